"""Every flag that --help lists is documented in docs/examples.md, and --help
shows a default for every flag that takes a value."""
import os
import re

from ex_util import check, programs, run

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "examples.md")

with open(DOC) as f:
    doc = f.read()
missing = []
for prog in programs():
    rc, out, _ = run(prog, ["--help"])
    check(rc == 0, "--help exit %d" % rc)
    flags = re.findall(r"^  (--[a-z0-9-]+)( [A-Z0-9.,]+)?", out, re.M)
    check(len(flags) > 40, "--help lists only %d flags" % len(flags))
    for name, _ in flags:
        if "`" + name not in doc and "/ `" + name not in doc:
            missing.append(name)
    for line in out.splitlines():
        m = re.match(r"^  (--[a-z0-9-]+) [A-Z]", line)
        if m and m.group(1) not in ("--data", "--milestones") and "[default:" not in line:
            missing.append(m.group(1) + " (no default in --help)")
check(not missing, "not documented: %s" % ", ".join(sorted(set(missing))))
print("ok")
