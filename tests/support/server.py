"""Launch a real ComfyUI server subprocess for tests.

``comfy_server(...)`` starts ``<python> main.py --cpu --listen 127.0.0.1 --port <free> ...`` from a ComfyUI
checkout, with an ``--extra-model-paths-config`` YAML whose ``custom_nodes:`` entry is a temp folder of symlinks
to the given packs (this pack's link is named ``consistent_dynamic_i2v``) and whose model folders are the given
ones. It waits (bounded) until ``/object_info`` answers, yields a :class:`ComfyServer` (``.url`` is the base
URL, ``str(server)`` too; ``.log_tail()`` for error messages), and always kills the process group on exit.

Every flag used exists in both ComfyUI 0.3.64 and 0.8 (``comfy/cli_args.py``).
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

PACK_ROOT = Path(__file__).resolve().parents[2]
PACK_LINK_NAME = "consistent_dynamic_i2v"
HOST = "127.0.0.1"

# Keep the frontend's first-run behaviour out of the way: a fresh user directory would otherwise make the
# frontend load a blank workflow and open the template browser dialog ("new user" path in GraphView).
DEFAULT_SETTINGS = {"Comfy.TutorialCompleted": True}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _tail(path: Path, n_chars: int = 6000) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:  # pragma: no cover - diagnostics only
        return f"<no server log: {exc}>"
    return data[-n_chars:].decode("utf-8", errors="replace")


@dataclass(repr=False)
class ComfyServer:
    url: str
    port: int
    log_path: Path
    proc: subprocess.Popen
    workdir: Path
    output_dir: Path
    input_dir: Path
    custom_nodes_dir: Path
    extra: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"ComfyServer({self.url}, log={self.log_path})"

    def log_tail(self, n_chars: int = 6000) -> str:
        return _tail(self.log_path, n_chars)

    # small JSON helpers (stdlib only; loopback only)
    def get_json(self, route: str, timeout: float = 30.0):
        with urllib.request.urlopen(self.url + route, timeout=timeout) as r:
            return json.loads(r.read().decode("utf-8"))

    def post_json(self, route: str, payload, timeout: float = 30.0):
        """POST JSON; returns (status, parsed body). HTTP errors are returned, not raised."""
        req = urllib.request.Request(
            self.url + route,
            data=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                body = r.read().decode("utf-8")
                status = r.status
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", errors="replace")
            status = exc.code
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body


def _write_yaml(path: Path, custom_nodes_dir: Path, model_dirs: Mapping[str, Path]) -> None:
    # Written by hand (JSON-quoted scalars are valid YAML) so no PyYAML import is needed here.
    # is_default: these folders come first, so a node that writes into a models folder (CIL Convert Checkpoint)
    # writes into the test's folder, never into the ComfyUI checkout's models/
    lines = ["cdi2v_tests:", "    is_default: true"]
    lines.append(f"    custom_nodes: {json.dumps(str(custom_nodes_dir))}")
    for kind, folder in model_dirs.items():
        lines.append(f"    {kind}: {json.dumps(str(Path(folder).resolve()))}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _stop(proc: subprocess.Popen, grace_s: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    if os.name == "posix":
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
    else:  # pragma: no cover
        proc.terminate()
    try:
        proc.wait(timeout=grace_s)
        return
    except subprocess.TimeoutExpired:
        pass
    if os.name == "posix":
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    else:  # pragma: no cover
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)


@contextlib.contextmanager
def comfy_server(
    comfy_root: Path,
    custom_node_dirs: Sequence[Path],
    model_dirs: Mapping[str, Path],
    input_dir: Path,
    output_dir: Path,
    *,
    python: str | None = None,
    startup_timeout_s: float = 120.0,
    log_path: Path | None = None,
    settings: Mapping | None = None,
    extra_args: Sequence[str] = (),
) -> Iterator[ComfyServer]:
    """Run ComfyUI at ``comfy_root`` on a free loopback port; yield a :class:`ComfyServer`.

    ``custom_node_dirs``: pack folders; each is symlinked into a temp ``custom_nodes`` folder (this repo's root
    under the name ``consistent_dynamic_i2v``, others under their own folder name).
    ``model_dirs``: ``{"checkpoints": Path, ...}`` folder kinds for the extra-model-paths YAML.
    """
    comfy_root = Path(comfy_root).resolve()
    if not (comfy_root / "main.py").is_file():
        raise FileNotFoundError(f"not a ComfyUI checkout (no main.py): {comfy_root}")
    input_dir = Path(input_dir).resolve()
    output_dir = Path(output_dir).resolve()
    input_dir.mkdir(parents=True, exist_ok=True)
    output_dir.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="cdi2v_server_") as tmp:
        work = Path(tmp)
        cn_dir = work / "custom_nodes"
        cn_dir.mkdir()
        for d in custom_node_dirs:
            d = Path(d).resolve()
            name = PACK_LINK_NAME if d == PACK_ROOT else d.name
            link = cn_dir / name
            if link.exists() or link.is_symlink():
                raise ValueError(f"two custom node dirs map to the same name {name!r}")
            link.symlink_to(d, target_is_directory=True)

        user_dir = work / "user"
        (user_dir / "default").mkdir(parents=True)
        merged = dict(DEFAULT_SETTINGS)
        merged.update(settings or {})
        (user_dir / "default" / "comfy.settings.json").write_text(json.dumps(merged), encoding="utf-8")
        temp_dir = work / "temp"
        temp_dir.mkdir()

        yaml_path = work / "extra_model_paths.yaml"
        _write_yaml(yaml_path, cn_dir, model_dirs)

        log = Path(log_path) if log_path is not None else work / "server.log"
        log.parent.mkdir(parents=True, exist_ok=True)

        port = free_port()
        cmd = [
            python or sys.executable, "main.py",
            "--cpu",
            "--listen", HOST,
            "--port", str(port),
            "--disable-auto-launch",
            "--extra-model-paths-config", str(yaml_path),
            "--output-directory", str(output_dir),
            "--input-directory", str(input_dir),
            "--temp-directory", str(temp_dir),
            "--user-directory", str(user_dir),
            "--database-url", "sqlite:///:memory:",
            *extra_args,
        ]
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("CUDA_VISIBLE_DEVICES", "")

        url = f"http://{HOST}:{port}"
        with open(log, "wb") as log_fh:
            log_fh.write(("$ " + " ".join(cmd) + "\n").encode())
            log_fh.flush()
            proc = subprocess.Popen(
                cmd,
                cwd=str(comfy_root),
                stdin=subprocess.DEVNULL,
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=(os.name == "posix"),
            )
        server = ComfyServer(url=url, port=port, log_path=log, proc=proc, workdir=work,
                             output_dir=output_dir, input_dir=input_dir, custom_nodes_dir=cn_dir)
        try:
            _wait_ready(server, startup_timeout_s)
            yield server
        finally:
            _stop(proc)
            if log_path is None:
                # keep the log of a failed run visible after the temp dir is gone
                server.extra["final_log_tail"] = server.log_tail()


def _wait_ready(server: ComfyServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last_err: object = None
    while time.monotonic() < deadline:
        rc = server.proc.poll()
        if rc is not None:
            raise RuntimeError(
                f"ComfyUI exited with code {rc} before answering /object_info.\n"
                f"--- server log tail ({server.log_path}) ---\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(server.url + "/object_info", timeout=10) as r:
                if r.status == 200:
                    json.loads(r.read().decode("utf-8"))
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError, OSError) as exc:
            last_err = exc
        time.sleep(0.5)
    raise TimeoutError(
        f"ComfyUI did not answer {server.url}/object_info within {timeout_s:.0f}s (last error: {last_err!r}).\n"
        f"--- server log tail ({server.log_path}) ---\n{server.log_tail()}"
    )
