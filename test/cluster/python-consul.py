"""Drives a Trellis agent with Debian's python3-consul (python-consul 0.7): catalog, health,
kv, session, event and status. Prints one JSON object with what each call returned; the ava
test (python-consul.test.ts) checks it. Usage: python3 python-consul.py HOST PORT"""
import json
import sys

import consul

host, port = sys.argv[1], int(sys.argv[2])
c = consul.Consul(host=host, port=port)
out = {}

out["leader"] = c.status.leader()
out["peers"] = c.status.peers()

out["kv_put"] = c.kv.put("py/key", "value-from-python")
_, entry = c.kv.get("py/key")
out["kv_get"] = entry["Value"].decode() if entry else None
_, keys = c.kv.get("py/", keys=True)
out["kv_keys"] = keys

out["register"] = c.catalog.register(
    "py-node",
    "127.0.0.9",
    service={"Service": "web", "ID": "web-1", "Port": 8080, "Tags": ["v1", "py"]},
    check={"CheckID": "web-check", "Name": "web alive", "Status": "passing", "ServiceID": "web-1"},
)
_, nodes = c.catalog.nodes()
out["nodes"] = sorted(n["Node"] for n in nodes)
_, services = c.catalog.services()
out["services"] = {k: sorted(v) for k, v in services.items()}
_, instances = c.catalog.service("web")
out["service_web"] = [[i["Node"], i["ServiceID"], i["ServicePort"]] for i in instances]
_, node = c.catalog.node("py-node")
out["node_services"] = sorted(node["Services"].keys())
_, healthy = c.health.service("web", passing=True)
out["health_passing"] = [h["Service"]["ID"] for h in healthy]
_, checks = c.health.checks("web")
out["health_checks"] = [[x["CheckID"], x["Status"]] for x in checks]
_, critical = c.health.state("critical")
out["critical"] = [x["CheckID"] for x in critical]
_, node_checks = c.health.node("py-node")
out["node_checks"] = [x["CheckID"] for x in node_checks]

session = c.session.create(name="py-lock", node="py-node", checks=[], ttl=30)
out["session_created"] = isinstance(session, str) and len(session) == 36
_, info = c.session.info(session)
out["session_info"] = [info["Name"], info["TTL"], info["Behavior"]]
renewed = c.session.renew(session)
out["session_renewed"] = renewed["ID"] == session
out["acquire"] = c.kv.put("py/lock", "held", acquire=session)
_, lock = c.kv.get("py/lock")
out["lock_session"] = lock.get("Session") == session
out["release"] = c.kv.put("py/lock", "free", release=session)
out["session_destroyed"] = c.session.destroy(session)
_, sessions = c.session.list()
out["sessions_left"] = [s["ID"] for s in sessions if s["ID"] == session]

fired = c.event.fire("py-deploy", body="v42")
out["event_fired"] = fired["Name"]
out["event_seen"] = False
index = None
for _ in range(50):
    index, events = c.event.list(name="py-deploy", index=index, wait="1s")
    if any(e["ID"] == fired["ID"] for e in events):
        out["event_seen"] = True
        payload = [e["Payload"] for e in events if e["ID"] == fired["ID"]][0]
        out["event_payload"] = payload.decode() if isinstance(payload, bytes) else payload
        break

out["deregister"] = c.catalog.deregister("py-node")
_, nodes = c.catalog.nodes()
out["nodes_after"] = sorted(n["Node"] for n in nodes)
print(json.dumps(out))
