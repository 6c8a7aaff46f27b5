"""``salesforce-emulator``: run the emulator from the command line until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
import threading
from types import FrameType

from . import Emulator
from .faults import FaultPlanError
from .schema import SchemaError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="salesforce-emulator",
        description="Local Salesforce emulator: OAuth, describe, REST, Collections, SOQL, Bulk.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (loopback only)")
    parser.add_argument("--port", type=int, default=8085, help="port to bind; 0 picks a free one")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added latency per call")
    parser.add_argument("--record-ms", type=float, default=0.0, help="added time per record")
    parser.add_argument("--api-limit", type=int, default=15_000, help="daily API allocation")
    parser.add_argument("--metadata", help="metadata JSON file with your org's objects")
    parser.add_argument("--faults", help="fault plan JSON file")
    parser.add_argument("--person-accounts", action="store_true", help="enable Person Accounts")
    parser.add_argument("--jwt-public-key", help="PEM public key that verifies JWT assertions")
    parser.add_argument(
        "--token-ttl-calls", type=int, help="access tokens expire after this many API calls"
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a certificate made at start; the CA file's path is printed "
        "on the second line (trust it with REQUESTS_CA_BUNDLE / SSL_CERT_FILE)",
    )
    parser.add_argument(
        "--tls-hostname",
        action="append",
        default=[],
        metavar="HOST",
        help="extra host name for the certificate (repeatable), e.g. a My Domain host "
        "mapped to 127.0.0.1 in /etc/hosts",
    )
    parser.add_argument(
        "--tls-dir", help="directory for ca.pem and the server certificate (default: temporary)"
    )
    parser.add_argument(
        "--lock-model",
        action="store_true",
        help="saves lock their parents: concurrent Bulk batches or Collections calls on the "
        "same parent fail with UNABLE_TO_LOCK_ROW",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow binding a non-loopback host (a test server: never expose it)",
    )
    return parser


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    """Run the emulator; print its base URL (and CA file), serve until SIGTERM or Ctrl-C.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if not _is_loopback(args.host) and not args.allow_remote:
        parser.error(
            f"refusing to bind {args.host}: the emulator is a test server with well-known "
            "credentials; bind 127.0.0.1 or pass --allow-remote explicitly"
        )
    try:
        emulator = Emulator(
            host=args.host,
            port=args.port,
            latency_ms=args.latency_ms,
            record_ms=args.record_ms,
            api_limit=args.api_limit,
            metadata=args.metadata,
            faults=args.faults,
            person_accounts=args.person_accounts,
            jwt_public_key=args.jwt_public_key,
            token_ttl_calls=args.token_ttl_calls,
            tls=args.tls,
            tls_hostnames=args.tls_hostname,
            tls_dir=args.tls_dir,
            lock_model=args.lock_model,
        )
        emulator.start()
    except (SchemaError, FaultPlanError, ValueError, OSError) as exc:
        print(f"salesforce-emulator: error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    # Line one is the base URL (scripts read it); with --tls, line two is the CA file's path.
    print(emulator.base_url, flush=True)
    if args.tls:
        print(emulator.ca_path, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
