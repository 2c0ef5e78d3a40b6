#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The docs say what the code has, and the code has what the docs say.

Each check reads names out of the sources and out of the docs and fails on a name on one side
only, naming the file to fix:

  config keys  the mm_cfg_key tables of common/cfg*.c  vs  docs/configuration.md (key tables,
               by group) and docs/man/mqttmux.conf.5.scd
  CLI flags    getopt strings and struct option names of supervisor/main.c (mqttmuxd) and
               shm/client/cli*.c (mqttmux)  vs  *-x* / *--long* in docs/man/mqttmuxd.8.scd and
               docs/man/mqttmux.1.scd. A flag of another tool mentioned in a page (mosquitto_sub's,
               say) is written without bold, so it is not taken for one of ours.
  metrics      "mqtt_*", "mqttmux_*" and "process_*" string literals of common/, supervisor/ and
               shm/router/  vs  `names` in docs/metrics.md (a histogram's _bucket/_sum/_count
               counts as its name). A name built at run time is not seen: write it out whole.
  library API  MQTTMUX_PUBLIC functions of include/mqttmux.h  vs  docs/man/libmqttmux.3.scd and
               debian/libmqttmux0.symbols

usage: check_docs.py SOURCE_DIR. Prints TAP; exits 1 if any check fails.
"""
import glob
import os
import re
import sys

SRC = sys.argv[1] if len(sys.argv) > 1 else "."
results = []

# Tables of common/cfg*.c whose group no `.sub = table` link names (read by custom code).
TABLE_GROUPS = {"top_keys": "", "session_keys": "sessions", "sub_keys": "subscriptions",
                "one_session_keys": None}


def read(rel):
    with open(os.path.join(SRC, rel), encoding="utf-8") as f:
        return f.read()


def files(pattern):
    return sorted(os.path.relpath(p, SRC) for p in glob.glob(os.path.join(SRC, pattern)))


def report(what, code_only, doc_only, code_where, doc_where):
    ok = not code_only and not doc_only
    results.append(ok)
    print(("ok" if ok else "not ok") + " %d - %s" % (len(results), what))
    if code_only:
        print("#   in %s but not in %s: %s" % (code_where, doc_where, ", ".join(sorted(code_only))))
    if doc_only:
        print("#   in %s but not in %s: %s" % (doc_where, code_where, ", ".join(sorted(doc_only))))


# ---- config keys ----

def config_code():
    """{(group, key)} from the mm_cfg_key tables; group "" is the top level."""
    tables, links = {}, {}
    for rel in files("common/cfg*.c"):
        text = read(rel)
        for m in re.finditer(r"struct mm_cfg_key (\w+)\[\] = \{(.*?)\n\};", text, re.S):
            entries = re.findall(r"\{([^{}]*?\.name = \"(\w+)\"[^{}]*)\}", m.group(2))
            tables[m.group(1)] = [name for _, name in entries]
            for body, name in entries:
                sub = re.search(r"\.sub = (\w+)", body)
                if sub:
                    links[sub.group(1)] = name
    keys, unknown = set(), []
    for table, names in tables.items():
        group = TABLE_GROUPS.get(table, links.get(table, "?"))
        if group == "?":
            unknown.append(table)
            continue
        if group is not None:
            keys |= {(group, n) for n in names}
    return keys, unknown


def config_docs():
    """{(group, key)} from the key tables of docs/configuration.md, by heading."""
    keys, group = set(), None
    for line in read("docs/configuration.md").splitlines():
        h = re.match(r"#{2,4} (.*)", line)
        if h:
            title = h.group(1).strip()
            g = re.fullmatch(r"`(\w+)`", title)
            group = "" if title == "Top level" else "sessions" if title == "Sessions" else \
                g.group(1) if g else None
            continue
        row = re.match(r"\| `(\w+)` \|", line)
        if row and group is not None:
            keys.add((group, row.group(1)))
    return keys


def check_config():
    code, unknown = config_code()
    results.append(not unknown)
    print(("ok" if not unknown else "not ok") + " %d - every config key table has a group"
          % len(results))
    if unknown:
        print("#   add the group of %s to TABLE_GROUPS in tests/docs/check_docs.py" % unknown)
    fmt = lambda s: {("%s.%s" % (g, k)) if g else k for g, k in s}
    docs = config_docs()
    report("config keys: common/cfg*.c and docs/configuration.md agree",
           fmt(code - docs), fmt(docs - code), "common/cfg*.c", "docs/configuration.md")
    man = set(re.findall(r"\*(\w+)\*", read("docs/man/mqttmux.conf.5.scd")))
    report("config keys: every key is in mqttmux.conf(5)", {k for _, k in code} - man, set(),
           "common/cfg*.c", "docs/man/mqttmux.conf.5.scd")


# ---- CLI flags ----

def flags_code(paths):
    text = "\n".join(read(p) for p in paths)
    headers = "\n".join(read(p) for p in files(os.path.join(os.path.dirname(paths[0]), "*.h")))
    macros = dict(re.findall(r"#define (\w+)\s+((?:\"[^\"]*\"\s*)+)", text + "\n" + headers))
    flags = set()
    for m in re.finditer(r"getopt(?:_long)?\s*\(\s*\w+\s*,\s*\w+\s*,\s*((?:\"[^\"]*\"\s*|[A-Z_]\w*\s*)+)",
                         text):
        parts = re.findall(r"\"[^\"]*\"|[A-Z_]\w*", m.group(1))
        spec = "".join(re.findall(r"\"([^\"]*)\"",
                                  "".join(macros.get(p, "") if p[0] != '"' else p for p in parts)))
        flags |= {"-" + c for c in spec if c.isalnum()}
    # struct option entries, also those in a macro of a header
    flags |= {"--" + n for n in re.findall(r"\{[\s\\]*\"([\w-]+)\",\s*(?:no|required|optional)_argument",
                                           text + "\n" + headers)}
    return flags


def flags_docs(rel):
    return set(re.findall(r"\*(--?[A-Za-z0-9][\w-]*)\*", read(rel)))


def check_flags():
    for prog, srcs, page in [("mqttmuxd", ["supervisor/main.c"], "docs/man/mqttmuxd.8.scd"),
                             ("mqttmux", [p for p in files("shm/client/cli*.c")
                                         if re.fullmatch(r"cli(_\w+)?\.c", os.path.basename(p))],
                              "docs/man/mqttmux.1.scd")]:
        code, docs = flags_code(srcs), flags_docs(page)
        report("CLI flags: %s and %s agree" % (prog, page), code - docs, docs - code,
               " ".join(srcs), page)


# ---- metrics ----

NAME = r"(?:mqtt|mqttmux|process)_[a-z0-9_]+"


def check_metrics():
    code = set()
    for rel in files("common/*.c") + files("supervisor/*.c") + files("shm/router/*.c"):
        code |= set(re.findall(r"\"(%s)\"" % NAME, read(rel)))
    docs = set()
    for m in re.finditer(r"`(%s)(?![\w(])" % NAME, read("docs/metrics.md")):
        name = m.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        docs.add(name if name in code or base not in code else base)
    report("metrics: the code and docs/metrics.md agree", code - docs, docs - code,
           "common/, supervisor/, shm/router/", "docs/metrics.md")


# ---- library API ----

def check_api():
    header = read("include/mqttmux.h")
    code = set(re.findall(r"MQTTMUX_PUBLIC[^;{]*?\b(mqttmux_\w+)\s*\(", header))
    man = set(re.findall(r"\b(mqttmux_\w+)\(", read("docs/man/libmqttmux.3.scd")))
    report("library API: include/mqttmux.h and libmqttmux(3) agree", code - man, man - code,
           "include/mqttmux.h", "docs/man/libmqttmux.3.scd")
    syms = set(re.findall(r"^ (mqttmux_\w+)@", read("debian/libmqttmux0.symbols"), re.M))
    report("library API: include/mqttmux.h and debian/libmqttmux0.symbols agree", code - syms,
           syms - code, "include/mqttmux.h", "debian/libmqttmux0.symbols")


print("TAP version 13")
check_config()
check_flags()
check_metrics()
check_api()
print("1..%d" % len(results))
sys.exit(0 if all(results) else 1)
