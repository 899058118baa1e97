#!/usr/bin/env python3
"""Turns swift-argument-parser's generated mdoc pages (vault.1, vault.add-app.1, ...) into the pages the package
installs: one page per subcommand named like git's (vault-add-app.1, so `man vault-add-app` and `apropos vault` work),
a NAME line that whatis/lexgrog can read, and the help texts' blank lines and indented examples as mdoc paragraphs and
literal blocks (groff warns about raw blank lines). Usage: manpages.py SRC_DIR OUT_DIR"""
import os
import re
import sys


def page_name(generated):
    """'vault.run.users' -> 'vault-run-users'."""
    return generated.replace(".", "-")


def convert(text, name, command):
    out = []
    section = None
    literal = False
    for line in text.split("\n"):
        if line.startswith(".Sh "):
            section = line[4:].strip('"')
        is_text = not line.startswith(".")
        # Indented lines of a help text are examples: keep them verbatim in a literal block.
        if is_text and line[:1] in (" ", "\t") and line.strip():
            if not literal:
                out.append(".Bd -literal -offset indent")
                literal = True
            out.append(line.strip().replace("\\", "\\e"))
            continue
        if literal:
            out.append(".Ed")
            literal = False
        if is_text and not line.strip():
            out.append(".Pp")
            continue
        if line.startswith(".Dt "):
            out.append(re.sub(r"^\.Dt \S+", ".Dt " + name.upper(), line))
        elif line.startswith(".Xr "):
            parts = line.split(" ")
            parts[1] = page_name(parts[1])
            out.append(" ".join(parts))
        elif section == "NAME" and line.startswith(".Nm"):
            out.append(".Nm " + name)
        elif section == "SYNOPSIS" and line == ".Nm":
            out.append('.Nm "%s"' % command)
        else:
            out.append(line)
    if literal:
        out.append(".Ed")
    # Collapse a paragraph break that directly follows or precedes a block, and trailing empty lines.
    cleaned = []
    for line in out:
        if line == ".Pp" and cleaned and cleaned[-1] in (".Pp", ".Ed", ".Sh DESCRIPTION"):
            continue
        cleaned.append(line)
    while cleaned and cleaned[-1] in ("", ".Pp"):
        cleaned.pop()
    return "\n".join(cleaned) + "\n"


if __name__ == "__main__":
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    for entry in sorted(os.listdir(src)):
        if not entry.endswith(".1"):
            continue
        generated = entry[:-2]
        name = page_name(generated)
        with open(os.path.join(src, entry), encoding="utf-8") as f:
            text = f.read()
        # The command as typed ("vault run users"), from the generator's own NAME line.
        m = re.search(r'^\.Nm "?([^"\n]+)"?$', text, re.M)
        if not m:
            sys.exit("manpages.py: no NAME line in " + entry)
        command = m.group(1)
        with open(os.path.join(dst, name + ".1"), "w", encoding="utf-8") as f:
            f.write(convert(text, name, command))
