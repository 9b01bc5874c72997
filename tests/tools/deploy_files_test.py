"""The deployment examples (docs/deploy/, and the pod in docs/deploy.md) start genie-serve
with flags it accepts.

Kubernetes runs a container's `command` (or, without one, the image's ENTRYPOINT) followed
by its `args`; this rebuilds that command line for every container in the manifests, with
the Containerfile's ENTRYPOINT, and checks it against `genie-serve --help`: every flag
exists, none but --listen is given twice, each flag that takes a value has one, and the
files it names are under a mounted volume. The pod spec in deploy.md's yaml blocks is
checked the same way, and a client container there must reach the server's Unix socket
through a volume both mount. Nothing here can start a pod, so this is what keeps the
examples from drifting away from the tool.

    python deploy_files_test.py GENIE_SERVE DEPLOY_DIR
"""
import json
import re
import subprocess
import sys

import yaml

serve, deploy = sys.argv[1], sys.argv[2]
failures = []


def check(what, ok, detail=""):
    if not ok:
        failures.append(f"{what}: {detail}")
        print(f"FAIL {what}: {detail}")


help_text = subprocess.run([serve, "--help"], capture_output=True, text=True, check=True).stdout
# "  --cache-bytes UINT=8589934592" takes a value (its type in capitals); "  --allow-upload" does
# not; "  --tls-cert TEXT Needs: --tls-key" needs another flag with it.
# "  --listen TEXT ..." may be given again.
options, needs, repeatable = {}, {}, set()
for m in re.finditer(r"^\s+(?:-\w,)?(--[\w-]+)(.*)$", help_text, re.M):
    rest = m.group(2)
    options[m.group(1)] = re.match(r"\s+[A-Z]+\b", rest) is not None
    if re.match(r"\s+[A-Z]+ \.\.\.", rest):
        repeatable.add(m.group(1))
    needed = re.search(r"Needs:((?:\s+--[\w-]+)+)", rest)
    needs[m.group(1)] = needed.group(1).split() if needed else []
check("genie-serve --help lists its flags", {"--listen", "--allow-upload", "--poll-us"} <= options.keys(),
      sorted(options))

containerfile = open(f"{deploy}/Containerfile").read().replace("\\\n", " ")
entry = re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", containerfile, re.M)
check("the Containerfile has an exec-form ENTRYPOINT", entry is not None)
entrypoint = json.loads(entry.group(1)) if entry else []


def check_command(where, argv, mounts):
    check(f"{where}: runs genie-serve", argv[:1] == ["genie-serve"], argv[:1])
    seen = set()
    i = 1
    while i < len(argv):
        flag = argv[i]
        name = flag.split("=", 1)[0]
        if name not in options:
            check(f"{where}: {flag}", False, "genie-serve has no such flag")
            i += 1
            continue
        check(f"{where}: {name}", name not in seen or name in repeatable, "given twice (genie-serve refuses that)")
        seen.add(name)
        takes_value = options[name] and "=" not in flag
        if takes_value:
            check(f"{where}: {name}", i + 1 < len(argv) and not argv[i + 1].startswith("--"), "has no value")
            value = argv[i + 1] if i + 1 < len(argv) else ""
            if name in ("--token-file", "--tls-cert", "--tls-key", "--tls-client-ca", "--cache-dir"):
                check(f"{where}: {name} {value}", any(value.startswith(m.rstrip("/") + "/") or value == m for m in mounts),
                      f"not under a mounted volume {sorted(mounts)}")
            i += 2
        else:
            i += 1
    for name in seen:
        for other in needs.get(name, []):
            check(f"{where}: {name}", other in seen, f"needs {other}")
    listens = [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == "--listen"]
    listens += [a.split("=", 1)[1] for a in argv if a.startswith("--listen=")]
    check(f"{where}: --listen {listens}", len(listens) == len(set(listens)), "the same address given twice")
    for listen in listens:
        if not listen.startswith("127.") and not listen.startswith("unix:"):
            check(f"{where}: listening on {listen}", "--token-file" in seen or "--tls-client-ca" in seen,
                  "a non-loopback address needs a token or mutual TLS")


manifests = 0
for name in ("genie-serve-pool.yaml", "kserve-runtime.yaml"):
    for doc in yaml.safe_load_all(open(f"{deploy}/{name}")):
        check(f"{name}: a document with apiVersion and kind", doc and "apiVersion" in doc and "kind" in doc, doc)
        spec = (doc or {}).get("spec", {})
        pod = spec.get("template", {}).get("spec", spec)  # a workload's pod template, or a runtime's
        volumes = {v["name"] for v in pod.get("volumes", [])}
        for container in pod.get("containers", []):
            manifests += 1
            where = f"{name} {doc['kind']}/{container['name']}"
            mounts = set()
            for mount in container.get("volumeMounts", []):
                check(f"{where}: mount {mount['name']}", mount["name"] in volumes, "no such volume in the pod")
                mounts.add(mount["mountPath"])
            if doc["kind"].endswith("ServingRuntime"):
                mounts.add("/mnt/models")  # KServe's storage initializer puts the model there
            argv = container.get("command", entrypoint) + container.get("args", [])
            check_command(where, argv, mounts)

# The pod of deploy.md ("A client in the same pod"): a fragment, `spec:` and its containers.
guide = open(f"{deploy}/../deploy.md").read()
blocks = re.findall(r"^```yaml\n(.*?)^```", guide, re.M | re.S)
check("deploy.md has its pod example", len(blocks) >= 1, len(blocks))
for n, block in enumerate(blocks, 1):
    doc = yaml.safe_load(block)
    pod = (doc or {}).get("spec", {})
    volumes = {v["name"] for v in pod.get("volumes", [])}
    servers, clients = {}, []
    for container in pod.get("containers", []):
        where = f"deploy.md yaml block {n} container/{container['name']}"
        mounts = {}
        for mount in container.get("volumeMounts", []):
            check(f"{where}: mount {mount['name']}", mount["name"] in volumes, "no such volume in the pod")
            mounts[mount["mountPath"]] = mount["name"]
        # Without a command a container runs its own image's entrypoint: the Containerfile's
        # only for the genie-serve image.
        own = entrypoint if container.get("image", "").startswith("genie-serve") else []
        argv = container.get("command", own) + container.get("args", [])
        if argv[:1] == ["genie-serve"]:
            manifests += 1
            check_command(where, argv, set(mounts))
            for i, a in enumerate(argv[:-1]):
                if a == "--listen" and argv[i + 1].startswith("unix:"):
                    servers[argv[i + 1]] = mounts
        else:
            clients += [(where, e["value"], mounts) for e in container.get("env", []) if e["name"] == "GENIE_REMOTE"]
    for where, address, mounts in clients:
        check(f"{where}: GENIE_REMOTE={address}", address in servers, f"no genie-serve of the pod listens there {sorted(servers)}")
        if address in servers:
            socket_dir = address[len("unix:"):].rsplit("/", 1)[0]
            check(f"{where}: {address}", mounts.get(socket_dir) is not None and
                  mounts.get(socket_dir) == servers[address].get(socket_dir),
                  "the socket's directory is not a volume the server's container mounts too")

check("the manifests have containers", manifests >= 3, manifests)
print(f"deploy files: {manifests} containers checked, {len(failures)} failures")
sys.exit(1 if failures else 0)
