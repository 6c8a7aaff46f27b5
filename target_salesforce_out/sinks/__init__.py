"""Sinks: one per API (REST sObject Collections, Bulk API 2.0)."""
