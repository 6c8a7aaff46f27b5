"""Singer target that loads records into Salesforce."""
