"""One line per check for the interop scripts, and their closing "N passed, N failed" line."""

counts = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    """Records one check and prints it: `ok   name`, or `FAIL name detail`."""
    if ok:
        counts["passed"] += 1
        print(f"ok   {name}")
    else:
        counts["failed"] += 1
        print(f"FAIL {name} {detail}")


def summary(label):
    """Prints the closing line; the process's exit code (1 when any check failed)."""
    print(f"{label}: {counts['passed']} passed, {counts['failed']} failed")
    return 1 if counts["failed"] else 0
