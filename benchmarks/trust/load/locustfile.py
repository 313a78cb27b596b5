"""Readers reading and scoring, researchers uploading: what their browsers send.

Started by run_load.py (headless, loopback, bounded time); LOAD_PLAN names the plan JSON
that seed.py wrote, LOAD_OUT the folder for the run's records.

A reader (50 of them), signed in before the test (seed.py makes the sessions: 50 logins
at once would measure PBKDF2, not reading), opens the study (Start), and per case: loads
the reading page, loads both stacks the way the viewer does (slice 0 of A and B first,
then interleaved, 6 requests at a time; every image cold: no prefetch, no browser cache),
reads from the moment the first pair is shown (the rest loads meanwhile), gives its
answers one click at a time, each click followed by the autosave's PUT of the whole
answer set, now and then changes an answer already given, sends the interaction log, and
submits once both stacks are in. Failed idempotent requests are retried with the page's
backoff. Every answer set that the server acknowledged (200, "saved") is recorded, in
order, for check.py to find in the database.

A researcher (5 of them) logs in through the login form, then uploads case after case the
way the upload page does: start an upload, announce the files, send them 8 files to a
batch PUT, 4 requests at a time, and ingest; then waits a little before the next case.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import random
import re
import time
from pathlib import Path

import gevent
from gevent.event import Event
from gevent.pool import Pool
from locust import HttpUser, between, events, task

PLAN = json.loads(Path(os.environ["LOAD_PLAN"]).read_text())
OUT = Path(os.environ["LOAD_OUT"])
THINK = tuple(float(s) for s in os.environ.get("LOAD_THINK", "10,20").split(","))
CLICK = tuple(float(s) for s in os.environ.get("LOAD_CLICK", "1,3").split(","))
READERS = iter(PLAN["readers"])
UPLOADERS = iter(PLAN["uploaders"].items())
CONFIG = re.compile(r'<script[^>]*id="reading-config"[^>]*>(.*?)</script>', re.S)
IMAGE_CONCURRENCY = 6
UPLOAD_PARALLEL = 4
BATCH_FILES = 8

# What the check compares with the database, and every request's time (exact percentiles).
answer_log: list[dict] = []
samples: list[tuple[float, str, str, float, int, bool]] = []
marks = {"start": None, "steady": None}


@events.test_start.add_listener
def _start(environment, **kw):
    marks["start"] = time.time()


@events.request.add_listener
def _sample(request_type, name, response_time, response_length, exception, **kw):
    status = getattr(kw.get("response"), "status_code", 0) or 0
    samples.append((time.time(), request_type, name, response_time, status, exception is None))


@events.spawning_complete.add_listener
def _steady(user_count, **kw):
    marks["steady"] = time.time()


@events.quitting.add_listener
def _dump(environment, **kw):
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "answers.json").write_text(json.dumps(answer_log))
    with open(OUT / "samples.jsonl", "w") as fh:
        fh.write(json.dumps(marks) + "\n")
        for row in samples:
            fh.write(json.dumps(row) + "\n")


def backoff(attempt: int) -> float:
    """The page's backoff (frontend/src/api.ts): doubling from 0.5 s, capped, jittered."""
    base = min(30.0, 0.5 * 2 ** (attempt - 1))
    return base / 2 + random.random() * base / 2


class Browser(HttpUser):
    abstract = True

    def login(self, username: str) -> None:
        self.client.get("/accounts/login/", name="login page")
        token = self.client.cookies.get("csrftoken")
        with self.client.post(
            "/accounts/login/",
            data={"username": username, "password": PLAN["password"], "csrfmiddlewaretoken": token},
            headers={"Referer": self.host + "/accounts/login/"},
            name="login",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 302:
                response.failure(f"login of {username}: HTTP {response.status_code}")
                raise RuntimeError(f"login of {username} failed")

    def api(self, method: str, url: str, name: str, retries: int = 4, **kwargs):
        """One JSON API call with the page's CSRF header and retries of transient failures."""
        headers = {"X-CSRFToken": self.client.cookies.get("csrftoken", "")}
        headers.update(kwargs.pop("headers", {}))
        for attempt in itertools.count(1):
            with self.client.request(
                method, url, name=name, headers=headers, catch_response=True, **kwargs
            ) as response:
                transient = (
                    response.status_code == 0
                    or response.status_code >= 500
                    or (response.status_code in (408, 429))
                )
                if response.status_code < 400:
                    response.success()
                    return response
                response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
            if not transient or attempt > retries:
                return response
            gevent.sleep(backoff(attempt))


class Reader(Browser):
    fixed_count = int(os.environ.get("LOAD_READERS", 50))
    wait_time = between(0, 0)

    def on_start(self) -> None:
        # Signed in before the test (seed.py): 50 logins at once would measure PBKDF2.
        self.username = next(READERS)
        host = self.host.split("//", 1)[1].split(":")[0]
        session = PLAN["sessions"][self.username]
        self.client.cookies.set("sessionid", session, domain=host, path="/")
        self.client.get("/worklist/", name="worklist")
        response = self.client.get(
            f"/reading/studies/{PLAN['study']}/start/",
            name="/reading/studies/[id]/start/",
            allow_redirects=False,
        )
        self.url = response.headers.get("Location")

    @task
    def read_case(self) -> None:
        if not self.url or "/done/" in self.url:
            gevent.sleep(5)  # this reader has read everything
            return
        page = self.client.get(self.url, name="reading page")
        found = CONFIG.search(page.text or "")
        if page.status_code != 200 or not found:
            gevent.sleep(1)
            return
        config = json.loads(found.group(1))
        # The viewer shows slice 0 of A and B as soon as they arrive and loads the rest
        # while the reader looks; the reader submits once both stacks are in.
        first_pair = Event()
        loading = gevent.spawn(self.load_images, config, first_pair)
        first_pair.wait()
        gevent.sleep(random.uniform(*THINK))
        self.log(config)
        answered = self.answer(config)
        loading.join()
        if not answered:
            return
        self.log(config)
        response = self.api(
            "POST", config["api"]["submit"], "submit", retries=0, json={"seconds": 30.0}
        )
        answer_log.append(
            {"token": config["token"], "kind": "submit", "acked": response.status_code == 200}
        )
        if response.status_code == 200:
            self.url = response.json()["next_url"]

    def load_images(self, config: dict, first_pair: Event) -> None:
        """Both stacks, slice n of A and B together, IMAGE_CONCURRENCY requests at a time;
        `first_pair` is set once slice 0 of both sides has come (or failed)."""
        sides = [side["images"] for side in config["sides"]]
        longest = max(map(len, sides))
        queue = [(n, side[n]) for n in range(longest) for side in sides if n < len(side)]
        firsts = [0]

        def fetch(item):
            n, url = item
            name = "image: first of a presentation" if n == 0 else "image: other slices"
            try:
                for _ in range(2):  # the viewer tries a failed image once more
                    with self.client.get(url, name=name, catch_response=True) as response:
                        if response.status_code == 200 and response.content:
                            response.success()
                            return
                        response.failure(f"HTTP {response.status_code}")
            finally:
                if n == 0:
                    firsts[0] += 1
                    if firsts[0] == len(sides):
                        first_pair.set()

        try:
            Pool(IMAGE_CONCURRENCY).map(fetch, queue)
        finally:
            first_pair.set()

    def answer(self, config: dict) -> bool:
        """Click by click, each followed by the autosave PUT of the whole set."""
        sides = config["score_sides"]
        questions = [(side, c["key"], c["values"]) for c in PLAN["criteria"] for side in sides]
        random.shuffle(questions)
        given: dict[tuple[str, str], int] = {
            (s["side"], s["criterion"]): s["value"] for s in config["answers"]["scores"]
        }
        clicks = [("score", q) for q in questions]
        if config["ask_preference"]:
            clicks.append(("preference", None))
        if random.random() < 0.3:  # a second thought: change one answer already given
            clicks.append(("score", random.choice(questions)))
        preference = config["answers"]["preference"]
        for kind, question in clicks:
            gevent.sleep(random.uniform(*CLICK))
            if kind == "score":
                side, key, values = question
                given[(side, key)] = random.choice(values)
            else:
                preference = random.choice(["A", "B", "none"])
            body = {
                "scores": [{"side": s, "criterion": k, "value": v} for (s, k), v in given.items()],
                "preference": preference,
                "seconds": 30.0,
            }
            entry = {"token": config["token"], "kind": "answers", "body": body, "acked": False}
            answer_log.append(entry)
            response = self.api("PUT", config["api"]["answers"], "answers (autosave)", json=body)
            if response.status_code == 200 and response.json().get("saved") is True:
                entry["acked"] = True
            else:
                return False  # the page shows the error; this reader starts the case again
        return True

    def log(self, config: dict) -> None:
        t0 = random.randint(0, 60_000)
        events_ = [[t0 + 150 * n, "slice", random.choice("AB"), n % 24] for n in range(20)]
        self.api("POST", config["api"]["log"], "interaction log", json={"events": events_})


class Uploader(Browser):
    fixed_count = int(os.environ.get("LOAD_UPLOADERS", 5))
    wait_time = between(2, 5)

    def on_start(self) -> None:
        self.username, self.sets = next(UPLOADERS)
        self.sets = list(self.sets)
        self.login(self.username)

    @task
    def upload_case(self) -> None:
        if not self.sets:
            gevent.sleep(5)  # every prepared series is uploaded
            return
        folder = Path(self.sets.pop(0))
        files = sorted(folder.iterdir())
        datas = {f.name: f.read_bytes() for f in files}
        started = time.perf_counter()
        label = {"label": folder.name}
        response = self.api("POST", "/api/uploads/", "upload: start", retries=0, json=label)
        if response.status_code != 201:
            return
        session = response.json()["id"]
        root = f"/api/uploads/{session}/"
        body = {"files": [{"name": n, "size": len(d)} for n, d in datas.items()]}
        response = self.api("POST", root + "files/", "upload: announce", retries=0, json=body)
        if response.status_code != 200:
            return
        infos = response.json()["files"]
        batches = [infos[i : i + BATCH_FILES] for i in range(0, len(infos), BATCH_FILES)]

        def send(batch):
            data = b"".join(datas[i["name"]] for i in batch)
            digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
            ids = ",".join(str(i["id"]) for i in batch)
            self.api(
                "PUT",
                f"{root}batch/?files={ids}",
                "upload: batch of files",
                data=data,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Digest": f"sha-256=:{digest}:",
                },
            )

        Pool(UPLOAD_PARALLEL).map(send, batches)
        response = self.api("POST", root + "ingest/", "upload: ingest", retries=0, json={})
        answer_log.append(
            {
                "kind": "upload",
                "session": session,
                "status": response.status_code,
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
