#!/bin/sh
# test/schema/run.sh: rules/miaopi-rules.schema.json, the JSON Schema editors
# use to complete and check rule files, against the compiler.
#   1. the schema is a valid draft 2020-12 schema;
#   2. every file in rules/ and every valid lint case (test/lint/valid/)
#      validates against it (python3-jsonschema, a real validator);
#   3. every key the compiler accepts (the key tables of
#      extension/rules/document.c and doctests.c) is listed by the schema at
#      the same place, so the schema never rejects or misses a real key;
#   4. documents the compiler refuses for their keys are refused by the
#      schema too (so the check above cannot pass vacuously).
# Prints "N passed, M failed"; exits 1 on a failure.
set -u
cd "$(dirname "$0")/../.."
exec python3 - "$@" <<'PY'
import glob, json, re, sys
import jsonschema
import yaml

passed = failed = 0
def ok(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s%s" % (what, (": " + detail) if detail else ""))

# YAML as the compiler reads it: dates and times stay text (it has no
# timestamp tag), and only true/false are booleans.
class Loader(yaml.SafeLoader):
    pass
Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
Loader.add_implicit_resolver("tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))

schema = json.load(open("rules/miaopi-rules.schema.json"))
try:
    jsonschema.Draft202012Validator.check_schema(schema)
    ok(True, "schema")
except jsonschema.SchemaError as e:
    ok(False, "schema is not a valid draft 2020-12 schema", e.message)
validator = jsonschema.Draft202012Validator(schema)

def errors(doc):
    return sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))

files = sorted(glob.glob("rules/*.yaml")) + sorted(glob.glob("test/lint/valid/*.yaml"))
for f in files:
    with open(f, encoding="utf-8-sig") as fh:
        docs = [d for d in yaml.load_all(fh, Loader=Loader) if d is not None]
    for i, d in enumerate(docs):
        errs = errors(d)
        ok(not errs, "%s document %d" % (f, i + 1),
           "; ".join("%s: %s" % ("/".join(map(str, e.absolute_path)) or "(top)", e.message) for e in errs[:5]))

# The compiler's key tables, and where the schema lists each
def key_tables(path):
    src = open(path, encoding="utf-8").read()
    out = {}
    for m in re.finditer(r"static const char \*const (\w+)\[\]\s*=\s*\{(.*?)\};", src, re.S):
        out[m.group(1)] = re.findall(r'"([^"]*)"', m.group(2))
    return out
tables = {}
for p in ("extension/rules/document.c", "extension/rules/doctests.c"):
    tables.update(key_tables(p))

def props(*path):
    node = schema
    for step in path:
        node = node[step]
    found = set()
    def collect(n):
        if isinstance(n, dict):
            if "properties" in n:
                found.update(n["properties"].keys())
            for k in ("oneOf", "anyOf", "allOf"):
                for sub in n.get(k, []):
                    collect(sub)
            if "$ref" in n:
                collect(resolve(n["$ref"]))
    collect(node)
    return found
def resolve(ref):
    node = schema
    for step in ref.lstrip("#/").split("/"):
        node = node[step]
    return node

# key table -> where the schema lists it ("values" tables are enums, not keys)
where = {
    "service_keys": ("",),
    "time_limit_keys": ("properties", "time_limit"),
    "field_keys": ("$defs", "field"),
    "material_keys": ("$defs", "material"),
    "check_key_names": ("$defs", "check"),
    "licence_keys": ("properties", "licence"),
    "test_keys": ("$defs", "test"),
    "applicant_keys": ("$defs", "test", "properties", "applicant"),
    "commitment_keys": ("$defs", "material", "oneOf", 1, "properties", "commitment"),
    "open_keys": ("properties", "open"),
    "audience_keys": ("properties", "audience"),
}
not_keys = {"kind_names", "on_fail_names", "step_names", "type_names", "expect_names",
            "number_placeholders", "apply_names", "kind_step_list", "kind_article"}
for name, keys in sorted(tables.items()):
    if name in not_keys:
        continue
    if name not in where:
        ok(False, "key table %s" % name,
           "unknown to test/schema/run.sh: say where the schema lists its keys")
        continue
    path = tuple(s for s in where[name] if s != "")
    listed = props(*path) if path else set(schema["properties"].keys())
    missing = [k for k in keys if k not in listed]
    ok(not missing, "key table %s" % name,
       "the compiler accepts %s but the schema does not list %s" % (", ".join(missing), "/".join(map(str, path)) or "the top level"))

# The schema refuses what the compiler refuses for its keys
base = {"service": "x", "name": "x", "kind": "filing", "time_limit": {"statutory": 1, "promised": 1}}
bad = [
    ("an unknown top-level key", dict(base, owner="me")),
    ("an unknown licence key", dict(base, licence={"type": "a", "number": "A-{yyyy}-{seq:3}", "valid_day": 1})),
    ("a licence with both ends", dict(base, licence={"type": "a", "number": "A-{yyyy}-{seq:3}", "valid_days": 1, "valid_until": "today()"})),
    ("an unknown placeholder", dict(base, licence={"type": "a", "number": "A-{yyyy}-{seq:3}-{dd}", "valid_days": 1})),
    ("an unknown check key", dict(base, checks=[{"id": "a", "rule": "true", "on_fail": "reject", "basi": "x"}])),
]
for what, doc in bad:
    ok(bool(errors(doc)), "the schema refuses " + what)
ok(not errors(dict(base, licence={"type": "a", "number": "A-{yyyy}-{seq:3}", "valid_days": 1})),
   "the schema accepts a minimal licence")

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PY
