"""A throwaway Synapse on 127.0.0.1 for the Matrix tests: config, start, staff accounts, stop.

Nothing is installed here: the ``matrix`` test extra (``pip install '.[test,matrix]'``) brings
``matrix-synapse`` and ``matrix-nio``; without them the tests skip and say so.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVER_NAME = "localhost"
BOT_LOCALPART = "dxbot"
START_TIMEOUT = 60.0
RELAXED = {"per_second": 1000, "burst_count": 1000}


def missing_packages() -> list[str]:
    """The packages of the ``matrix`` extra that cannot be imported here."""
    return [name for name in ("synapse", "nio") if importlib.util.find_spec(name) is None]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Homeserver:
    """A running Synapse and the application-service registration it was started with."""

    directory: Path
    port: int
    appservice_port: int
    as_token: str
    hs_token: str
    shared_secret: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def bot_user_id(self) -> str:
        return f"@{BOT_LOCALPART}:{SERVER_NAME}"

    @property
    def log(self) -> Path:
        return self.directory / "synapse.log"

    def write_config(self) -> Path:
        """homeserver.yaml and the dxbot registration (JSON is valid YAML)."""
        from signedjson.key import generate_signing_key, write_signing_keys

        key_path = self.directory / "signing.key"
        with key_path.open("w") as key_file:
            write_signing_keys(key_file, [generate_signing_key("test")])
        registration = self.directory / "dxbot-registration.yaml"
        registration.write_text(json.dumps(self.registration(), indent=2))
        config = self.directory / "homeserver.yaml"
        config.write_text(json.dumps(self.homeserver_config(key_path, registration), indent=2))
        return config

    def registration(self) -> dict[str, Any]:
        return {
            "id": "dxbot",
            "url": f"http://127.0.0.1:{self.appservice_port}",
            "as_token": self.as_token,
            "hs_token": self.hs_token,
            "sender_localpart": BOT_LOCALPART,
            "rate_limited": False,
            "namespaces": {
                "users": [{"exclusive": True, "regex": f"@{BOT_LOCALPART}.*"}],
                "aliases": [],
                "rooms": [],
            },
        }

    def homeserver_config(self, key_path: Path, registration: Path) -> dict[str, Any]:
        listener = {
            "port": self.port,
            "bind_addresses": ["127.0.0.1"],
            "type": "http",
            "tls": False,
            "x_forwarded": False,
            "resources": [{"names": ["client"], "compress": False}],
        }
        return {
            "server_name": SERVER_NAME,
            "pid_file": str(self.directory / "homeserver.pid"),
            "listeners": [listener],
            "database": {"name": "sqlite3", "args": {"database": str(self.directory / "hs.db")}},
            "media_store_path": str(self.directory / "media"),
            "signing_key_path": str(key_path),
            "report_stats": False,
            "registration_shared_secret": self.shared_secret,
            "macaroon_secret_key": secrets.token_hex(16),
            "form_secret": secrets.token_hex(16),
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "bcrypt_rounds": 4,
            "presence": {"enabled": False},
            "app_service_config_files": [str(registration)],
            "rc_message": RELAXED,
            "rc_registration": RELAXED,
            "rc_login": {"address": RELAXED, "account": RELAXED, "failed_attempts": RELAXED},
            "rc_joins": {"local": RELAXED, "remote": RELAXED},
            "rc_invites": {"per_room": RELAXED, "per_user": RELAXED, "per_issuer": RELAXED},
            "rc_room_creation": RELAXED,
        }

    def start(self) -> None:
        config = self.write_config()
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "synapse.app.homeserver", "-c", str(config)],
                cwd=self.directory,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"synapse exited at start-up:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"synapse not healthy after {START_TIMEOUT}s:\n{self.tail()}")

    def stop(self) -> None:
        """Terminate our Synapse by its PID; kill it if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def register(self, localpart: str, password: str) -> str:
        """A staff account through the shared-secret admin API; returns its user ID."""
        nonce = self._json("GET", "/_synapse/admin/v1/register")["nonce"]
        message = b"\x00".join(
            part.encode("utf-8") for part in (nonce, localpart, password, "notadmin")
        )
        mac = hmac.new(self.shared_secret.encode("utf-8"), message, hashlib.sha1).hexdigest()
        body = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": False,
            "mac": mac,
        }
        user_id: str = self._json("POST", "/_synapse/admin/v1/register", body)["user_id"]
        return user_id

    def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode("utf-8") if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())


def new_homeserver(directory: Path) -> Homeserver:
    return Homeserver(
        directory=directory,
        port=free_port(),
        appservice_port=free_port(),
        as_token=secrets.token_hex(16),
        hs_token=secrets.token_hex(16),
        shared_secret=secrets.token_hex(16),
    )
