#!/usr/bin/env python3
"""supervisord event listener: when any program turns FATAL, stop supervisord.

supervisord gives up on a program after startretries quick failures (state FATAL) and keeps the
rest running. In a container that leaves a worker without its process and a health check that
may still pass. Stopping supervisord (PID 1) ends the container, and Docker's restart policy
starts a fresh one. Speaks the eventlistener protocol on stdin/stdout; logs go to stderr.
"""
import os
import signal
import sys


def main() -> None:
    while True:
        sys.stdout.write("READY\n")
        sys.stdout.flush()
        header_line = sys.stdin.readline()
        if not header_line:
            return  # supervisord went away
        headers = dict(token.split(":", 1) for token in header_line.split())
        payload = sys.stdin.read(int(headers.get("len", "0")))
        if headers.get("eventname") == "PROCESS_STATE_FATAL":
            fields = dict(token.split(":", 1) for token in payload.split() if ":" in token)
            name = fields.get("processname", "?")
            sys.stderr.write(f"fatal-listener: program {name} is FATAL; stopping supervisord\n")
            sys.stderr.flush()
            # Acknowledge first so supervisord does not wait on this listener while stopping.
            sys.stdout.write("RESULT 2\nOK")
            sys.stdout.flush()
            os.kill(os.getppid(), signal.SIGTERM)
            continue
        sys.stdout.write("RESULT 2\nOK")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
