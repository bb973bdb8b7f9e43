"""Schemathesis 4 hooks and checks for openapi.yaml against a running stack (run_schemathesis.sh).

Loaded with SCHEMATHESIS_HOOKS=tests/api/hooks.py. Needs API_URL and ST_API_TOKEN (the bearer
token the run uses: every request of the run and every state read below is the same user).

* Before every write (POST, DELETE) the user's state is read: the quota (`used_bytes`,
  `reserved_bytes`, `limit_bytes`), every document (id and status, all pages of
  `GET /api/documents?limit=100`) and the topic ids (`GET /api/topics`); again right after the
  answer, before the checks run.
* Check `client_errors_write_nothing`: after a 4xx answer to a write, the quota, the document
  count, the documents and the topics are what they were before the call. (The one 4xx that
  writes by design is confirm's 413: it marks the document `rejected` and releases its
  reservation; for it only the document count, the ids and `used_bytes` must be unchanged.)
* Check `successful_writes_change_what_they_answer`: after a 200 of upload-url the user has exactly
  one more document, the answered `document_id`, pending, and `reserved_bytes` grew by exactly the
  declared `size_bytes` (0 when absent or null), `used_bytes` unchanged; after a 201 of
  POST /api/topics exactly the answered topic was added and nothing else changed.
* After a 200 of upload-url (and the state read) the document is deleted again, so a run never
  reaches `MAX_PENDING_UPLOADS` (429 for everything after) or fills the quota with reservations;
  a failed clean-up DELETE is reported by the second check.
* Generation: for upload-url, half of the generated bodies whose `content_type` is a syntactically
  valid string get an allowed media type instead (ALLOWED_CONTENT_TYPES, else the default list),
  so fuzzing reaches past the 415 to the quota logic.
* Every request Schemathesis sends is counted into ST_REQUEST_COUNT_FILE (if set).

Run with one worker: the state read before a call must not interleave with another call.
"""

import json
import os
import re
import threading
from dataclasses import dataclass, field

import requests
import schemathesis
from hypothesis import strategies as st

WRITES = {"POST", "DELETE"}
UPLOAD_URL = ("POST", "/api/documents/upload-url")
CONFIRM = ("POST", "/api/documents/{id}/confirm")
CREATE_TOPIC = ("POST", "/api/topics")
DEFAULT_ALLOWED_CONTENT_TYPES = [
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "text/plain",
    "text/markdown",
]
# What upload-url accepts as a content type before it consults the allow-list (printable ASCII).
_PRINTABLE = re.compile(r"^\s*[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?\s*$")
TIMEOUT = 30

_lock = threading.Lock()
_requests_sent = 0
_session: requests.Session | None = None


def _api() -> tuple[str, requests.Session]:
    global _session
    base = os.environ["API_URL"].rstrip("/")
    if _session is None:
        _session = requests.Session()
        _session.headers["Authorization"] = f"Bearer {os.environ['ST_API_TOKEN']}"
    return base, _session


@dataclass
class State:
    """What the user has, as the API shows it; `error` when it could not be read."""

    used_bytes: int | None = None
    reserved_bytes: int | None = None
    limit_bytes: int | None = None
    documents: dict[str, str] = field(default_factory=dict)  # id -> status
    topics: set[str] = field(default_factory=set)
    error: str | None = None

    def summary(self) -> str:
        if self.error:
            return f"(unreadable: {self.error})"
        return (
            f"used_bytes={self.used_bytes} reserved_bytes={self.reserved_bytes} "
            f"documents={len(self.documents)} topics={len(self.topics)}"
        )


def read_state() -> State:
    base, session = _api()
    state = State()
    try:
        quota = session.get(f"{base}/api/auth/me/quota", timeout=TIMEOUT)
        if quota.status_code != 200:
            return State(error=f"GET /api/auth/me/quota answered {quota.status_code}: {quota.text[:200]}")
        body = quota.json()
        state.used_bytes, state.reserved_bytes, state.limit_bytes = (
            body["used_bytes"],
            body["reserved_bytes"],
            body["limit_bytes"],
        )
        for item in every_item(session, base, "/api/documents"):
            state.documents[item["id"]] = item["status"]
        state.topics.update(topic["id"] for topic in every_item(session, base, "/api/topics"))
    except PageRefused as refused:
        return State(error=str(refused))
    except (requests.RequestException, ValueError, KeyError, TypeError) as error:
        return State(error=f"{type(error).__name__}: {error}")
    return state


class PageRefused(Exception):
    """A list route answered something other than 200."""


def every_item(session, base, path):
    """Every item of the paged list route `path` (`{"items", "next_cursor"}`), page after page."""
    cursor = None
    for _ in range(1000):
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = session.get(f"{base}{path}", params=params, timeout=TIMEOUT)
        if page.status_code != 200:
            raise PageRefused(f"GET {path} answered {page.status_code}: {page.text[:200]}")
        body = page.json()
        yield from body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return


@dataclass
class Observation:
    before: State
    after: State | None = None
    cleanup_error: str | None = None


# case.id -> what the hooks saw around its last call (one worker: the check runs right after).
_observed: dict[str, Observation] = {}


def _operation(case) -> tuple[str, str]:
    return case.method.upper(), case.path


def _json(response):
    try:
        return json.loads(response.content)
    except (ValueError, TypeError):
        return None


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


@schemathesis.hook
def before_call(ctx, case, kwargs):
    # `cargo lambda watch` (the local API Gateway) answers 500 itself, without calling the
    # function, to a JSON request whose body is not UTF-8; API Gateway in AWS passes such a body
    # base64-encoded. Send invalid bytes as their UTF-8 replacement here (still not JSON); the
    # functions' handling of non-UTF-8 bodies is tested with hand-made events
    # (shared/tests/integration/events.rs).
    if isinstance(case.body, bytes) and not _is_utf8(case.body):
        case.body = case.body.decode("utf-8", "replace").encode()
    for name in ("data", "content"):
        if isinstance(kwargs.get(name), bytes) and not _is_utf8(kwargs[name]):
            kwargs[name] = kwargs[name].decode("utf-8", "replace").encode()
    _observed.clear()
    if case.method.upper() in WRITES:
        _observed[case.id] = Observation(before=read_state())


@schemathesis.hook
def after_call(ctx, case, response):
    global _requests_sent
    with _lock:
        _requests_sent += 1
        path = os.environ.get("ST_REQUEST_COUNT_FILE")
        if path:
            with open(path, "w") as f:
                f.write(f"{_requests_sent}\n")
    observation = _observed.get(case.id)
    if observation is None or case.method.upper() not in WRITES:
        return
    observation.after = read_state()
    if _operation(case) == UPLOAD_URL and response.status_code == 200:
        document_id = (_json(response) or {}).get("document_id")
        if document_id:
            base, session = _api()
            try:
                deleted = session.delete(f"{base}/api/documents/{document_id}", timeout=TIMEOUT)
                if deleted.status_code != 204:
                    observation.cleanup_error = (
                        f"clean-up DELETE /api/documents/{document_id} answered {deleted.status_code}: "
                        f"{deleted.text[:200]}"
                    )
            except requests.RequestException as error:
                observation.cleanup_error = f"clean-up DELETE /api/documents/{document_id} failed: {error}"


def _observation(case) -> Observation | None:
    observation = _observed.pop(case.id, None)
    if observation is None or observation.after is None:
        return None
    if observation.before.error or observation.after.error:
        raise AssertionError(
            f"Could not read the user's state around the call: before {observation.before.summary()}, "
            f"after {observation.after.summary()}"
        )
    return observation


@schemathesis.check
def client_errors_write_nothing(ctx, response, case):
    """A 4xx answer to a POST or DELETE leaves the user's quota, documents and topics unchanged."""
    if case.method.upper() not in WRITES or not 400 <= response.status_code < 500:
        return None
    observation = _observed.get(case.id)
    if observation is None or observation.after is None:
        return None
    if response.status_code == 413 and _operation(case) == CONFIRM:
        # Rejection is confirm's one write on a 4xx: status -> rejected, reservation released.
        observation = _observation(case)
        before, after = observation.before, observation.after
        if set(before.documents) != set(after.documents) or before.used_bytes != after.used_bytes:
            raise AssertionError(
                f"confirm answered 413 and changed more than the rejected document: "
                f"before {before.summary()}, after {after.summary()}"
            )
        return True
    observation = _observation(case)
    before, after = observation.before, observation.after
    changes = []
    for name in ("used_bytes", "reserved_bytes", "limit_bytes"):
        if getattr(before, name) != getattr(after, name):
            changes.append(f"{name} {getattr(before, name)} -> {getattr(after, name)}")
    if len(before.documents) != len(after.documents):
        changes.append(f"document count {len(before.documents)} -> {len(after.documents)}")
    added = sorted(set(after.documents) - set(before.documents))
    removed = sorted(set(before.documents) - set(after.documents))
    if added:
        changes.append(f"documents added {added}")
    if removed:
        changes.append(f"documents removed {removed}")
    moved = sorted(d for d in set(before.documents) & set(after.documents) if before.documents[d] != after.documents[d])
    if moved:
        changes.append("documents changed status " + ", ".join(f"{d}: {before.documents[d]} -> {after.documents[d]}" for d in moved))
    if before.topics != after.topics:
        changes.append(f"topics {sorted(before.topics)} -> {sorted(after.topics)}")
    if changes:
        raise AssertionError(
            f"{case.method.upper()} {case.formatted_path} answered {response.status_code} but wrote: " + "; ".join(changes)
        )
    return True


@schemathesis.check
def successful_writes_change_what_they_answer(ctx, response, case):
    """upload-url's 200 adds one pending document and reserves its declared size; 201 adds one topic."""
    operation = _operation(case)
    if (operation, response.status_code) not in ((UPLOAD_URL, 200), (CREATE_TOPIC, 201)):
        return None
    observation = _observation(case)
    if observation is None:
        return None
    before, after = observation.before, observation.after
    answer = _json(response) or {}
    problems = []
    if operation == UPLOAD_URL:
        document_id = answer.get("document_id")
        body = case.body if isinstance(case.body, dict) else {}
        declared = body.get("size_bytes") or 0
        added = set(after.documents) - set(before.documents)
        if added != {document_id} or set(before.documents) - set(after.documents):
            problems.append(f"expected exactly {document_id} added, documents went {len(before.documents)} -> {len(after.documents)} (added {sorted(added)})")
        elif after.documents[document_id] != "pending":
            problems.append(f"the new document is {after.documents[document_id]}, not pending")
        if isinstance(declared, int) and after.reserved_bytes != before.reserved_bytes + declared:
            problems.append(
                f"reserved_bytes went {before.reserved_bytes} -> {after.reserved_bytes}, "
                f"expected +{declared} (the declared size_bytes)"
            )
        if after.used_bytes != before.used_bytes:
            problems.append(f"used_bytes went {before.used_bytes} -> {after.used_bytes}")
        if observation.cleanup_error:
            problems.append(observation.cleanup_error)
    else:
        topic_id = answer.get("id")
        if after.topics - before.topics != {topic_id} or before.topics - after.topics:
            problems.append(f"expected exactly topic {topic_id} added, topics went {sorted(before.topics)} -> {sorted(after.topics)}")
        if (before.used_bytes, before.reserved_bytes, before.documents) != (after.used_bytes, after.reserved_bytes, after.documents):
            problems.append(f"documents or quota changed: before {before.summary()}, after {after.summary()}")
    if problems:
        raise AssertionError(f"{case.method.upper()} {case.formatted_path} answered {response.status_code}, but " + "; ".join(problems))
    return True


def _allowed_content_types() -> list[str]:
    raw = os.environ.get("ALLOWED_CONTENT_TYPES", "")
    allowed = [t.strip().lower() for t in raw.split(",") if t.strip()]
    return allowed or DEFAULT_ALLOWED_CONTENT_TYPES


@schemathesis.hook
def flatmap_body(ctx, body):
    operation = ctx.operation
    if operation is None or (operation.method.upper(), operation.path) != UPLOAD_URL:
        return st.just(body)
    content_type = body.get("content_type") if isinstance(body, dict) else None
    if not isinstance(content_type, str) or not _PRINTABLE.match(content_type):
        return st.just(body)
    return st.one_of(
        st.just(body),
        st.sampled_from(_allowed_content_types()).map(lambda allowed: {**body, "content_type": allowed}),
    )
