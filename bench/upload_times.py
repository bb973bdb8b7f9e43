"""A 90 MB upload on loopback: one PUT vs parts (3 in flight), through the local stack.

  .tools/venv/bin/python localstack/devstack.py test -- .tools/api-venv/bin/python bench/upload_times.py
"""
import base64, hashlib, hmac, json, os, time, concurrent.futures, requests
API = os.environ["API_URL"]
def token(sub):
    b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    now = int(time.time())
    h = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()); c = b64(json.dumps({"sub": sub, "iat": now, "exp": now + 3600}).encode())
    sig = hmac.new(os.environ["LOCAL_JWT_SECRET"].encode(), f"{h}.{c}".encode(), hashlib.sha256).digest()
    return f"{h}.{c}.{b64(sig)}"
size = 90 * 1024 * 1024
data = b"z" * size
for run in range(2):
    user = f"measure-{int(time.time())}-{run}"
    s = requests.Session(); s.headers["Authorization"] = "Bearer " + token(user)
    t0 = time.monotonic()
    up = s.post(f"{API}/api/documents/upload-url", json={"filename": "big.txt", "content_type": "text/plain", "size_bytes": size}).json()
    r = requests.put(up["upload_url"], data=data, headers={k: v for k, v in up["headers"].items() if k.lower() != "content-length"})
    c = s.post(f"{API}/api/documents/{up['document_id']}/confirm")
    single = time.monotonic() - t0
    s = requests.Session(); s.headers["Authorization"] = "Bearer " + token(user + "-parts")
    t0 = time.monotonic()
    up = s.post(f"{API}/api/documents/upload-url", json={"filename": "big2.txt", "content_type": "text/plain", "size_bytes": size, "multipart": True}).json()
    plan = up["multipart"]; doc = up["document_id"]
    parts = s.post(f"{API}/api/documents/{doc}/parts", json={"part_numbers": list(range(1, plan["part_count"] + 1))}).json()["parts"]
    def put(p):
        n = p["part_number"]; chunk = data[(n - 1) * plan["part_size"]: n * plan["part_size"]]
        return requests.put(p["upload_url"], data=chunk).status_code
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        codes = list(pool.map(put, parts))
    c2 = s.post(f"{API}/api/documents/{doc}/confirm")
    multi = time.monotonic() - t0
    print(f"run {run}: single PUT {single:.2f} s ({r.status_code}, confirm {c.status_code}); multipart {plan['part_count']} parts x3 in flight {multi:.2f} s (confirm {c2.status_code})")
