"""Run what `sam build` produced the way Lambda runs it, on this machine.

Lambda's python3.12 runtime starts `/var/lang/bin/python3.12` with the function's
code in `/var/task`, its layers extracted in order into `/opt` (each layer's
`python/` folder on `sys.path`), the runtime's own boto3 in `/var/runtime`, and
everything read-only. `LambdaRoot` lays that out in a folder: an interpreter
copied from a Python 3.12 install (`var/lang`), the built function (`var/task`),
the built layers merged (`opt`), an SDK folder (`var/runtime`), and runs one
fresh `python3.12 -I -S` per invocation whose `sys.path` is exactly
[var/task, opt/python, var/runtime, stdlib], as an unprivileged user when run as
root. The child reports which of our and the layers' modules it had to compile
from source (bytecode missing or unusable), so a test sees an artifact that
would compile on every cold start.

This is the harness of tests/artifact and bench/coldstart.py; it needs no Docker.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .template import load_template, resources

ROOT = Path(__file__).resolve().parents[3]
BUILD_DIR = ROOT / ".aws-sam" / "build"
SDK_CACHE = ROOT / ".aws-sam" / "sdk"
#: what the Lambda python runtime bundles besides the interpreter (its /var/runtime)
SDK_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
NOBODY = 65534
#: stdlib folders Lambda's /var/lang does not need to run a handler (tests, GUIs, pip)
_STDLIB_SKIP = {"site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3"}


@dataclass(frozen=True)
class BuiltFunction:
    """One function of the built template: its code folder, handler, layers (in order) and settings."""

    logical_id: str
    code_dir: Path
    handler: str  # module.function
    layers: tuple[Path, ...]
    environment: dict[str, Any]  # Globals' and its own variables, intrinsics unresolved
    memory_mb: int
    timeout_s: float


def built_functions(build_dir: Path = BUILD_DIR) -> dict[str, BuiltFunction]:
    """Every function of `build_dir/template.yaml`, the template `sam deploy` packages."""
    template = load_template(build_dir / "template.yaml")
    glob = (template.get("Globals") or {}).get("Function") or {}
    layer_dirs = {k: build_dir / r["Properties"]["ContentUri"]
                  for k, r in resources(template, "AWS::Serverless::LayerVersion").items()}
    found = {}
    for logical_id, fn in resources(template, "AWS::Serverless::Function").items():
        props = fn["Properties"]
        layers = tuple(layer_dirs[layer["Ref"]] for layer in (props.get("Layers") or glob.get("Layers") or []))
        env = dict((glob.get("Environment") or {}).get("Variables") or {})
        env.update((props.get("Environment") or {}).get("Variables") or {})
        found[logical_id] = BuiltFunction(
            logical_id, build_dir / props["CodeUri"], props["Handler"], layers, env,
            int(props.get("MemorySize", glob.get("MemorySize", 128))), float(props.get("Timeout", glob.get("Timeout", 3))))
    return found


def runtime_python() -> str | None:
    """A Python 3.12 interpreter's path (scripts/runtime-python), or None."""
    if sys.version_info[:2] == (3, 12):
        return sys.executable
    out = subprocess.run([str(ROOT / "scripts" / "runtime-python")], capture_output=True, text=True).stdout.strip()
    return out or None


def sdk_dir(version: str | None = None, *, python: str | None = None) -> Path:
    """A folder holding boto3 and botocore as a Lambda runtime bundles them, cached under
    .aws-sam/sdk. `version` pins boto3 and botocore (e.g. "1.34.162"); None takes the versions
    of requirements/dev.lock, which the tests run. Compiled to bytecode like the runtime's."""
    pins = _locked_sdk() if version is None else [f"boto3=={version}", f"botocore=={version}"]
    name = "-".join(p.split("==")[1] for p in pins[:2])
    target = SDK_CACHE / name
    if (target / ".complete").is_file():
        return target
    python = python or runtime_python() or sys.executable
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile", "--no-warn-conflicts",
                    "--target", str(target), *pins], check=True)
    subprocess.run([python, "-m", "compileall", "-q", "-f", "--invalidation-mode", "unchecked-hash", "-j0",
                    str(target)], check=True, stdout=subprocess.DEVNULL)
    (target / ".complete").write_text(" ".join(pins))
    return target


def _locked_sdk() -> list[str]:
    lock = (ROOT / "requirements" / "dev.lock").read_text(encoding="utf-8").splitlines()
    pins = {line.split("==")[0]: line.split(";")[0].strip() for line in lock if "==" in line and not line.startswith(" ")}
    return [pins[p] for p in SDK_PACKAGES if p in pins]


# -- the layout -------------------------------------------------------------------------------

CHILD = r"""
import json, sys, time
t_start = time.perf_counter()
expected = json.loads(sys.argv[1])
args = json.loads(sys.argv[2])
stdlib = [p for p in sys.path]
sys.path[:0] = expected
import importlib.machinery
compiled = []
_source_to_code = importlib.machinery.SourceFileLoader.source_to_code
def source_to_code(self, data, path, *a, **k):
    compiled.append(str(path))
    return _source_to_code(self, data, path, *a, **k)
importlib.machinery.SourceFileLoader.source_to_code = source_to_code
out = {"sys_path": list(sys.path), "stdlib": stdlib, "executable": sys.executable,
       "version": list(sys.version_info[:3]), "uid": __import__("os").getuid()}
t0, c0 = time.perf_counter(), time.process_time()
try:
    if args["code"]:
        exec(compile(args["code"], "<bench>", "exec"), {})
    else:
        import importlib
        module_name, _, function_name = args["handler"].rpartition(".")
        module = importlib.import_module(module_name)
        handler = getattr(module, function_name)
        if args["init"] and hasattr(module, "init"):
            module.init()
        t1 = time.perf_counter()
        out["init_ms"] = (t1 - t0) * 1000
        out["init_cpu_ms"] = (time.process_time() - c0) * 1000
        if args["event"] is not None:
            class Context:
                function_name = args["function"]
                function_version = "$LATEST"
                memory_limit_in_mb = args["memory_mb"]
                invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + args["function"]
                aws_request_id = "4d6a9f2e-artifact-test"
                log_group_name = "/aws/lambda/" + args["function"]
                log_stream_name = "artifact"
                def get_remaining_time_in_millis(self):
                    return int(args["timeout_s"] * 1000)
            result = handler(args["event"], Context())
            out["first_request_ms"] = (time.perf_counter() - t1) * 1000
            out["response"] = result
except BaseException as exc:
    import traceback
    out["error"] = "".join(traceback.format_exception(exc))
out["total_ms"] = (time.perf_counter() - t0) * 1000
out["total_cpu_ms"] = (time.process_time() - c0) * 1000
out["compiled_from_source"] = compiled
out["modules"] = sorted(m for m in sys.modules)
sys.stdout.flush()
print("\n@@LAMBDA-LAYOUT@@" + json.dumps(out, default=str))
"""


@dataclass
class Invocation:
    """What one fresh process in the layout reported."""

    response: Any
    error: str | None
    sys_path: list[str]
    stdlib: list[str]
    version: tuple[int, ...]
    uid: int
    init_ms: float | None
    init_cpu_ms: float | None
    first_request_ms: float | None
    total_ms: float
    total_cpu_ms: float
    compiled_from_source: list[str]
    modules: list[str]
    stdout: str
    stderr: str
    returncode: int

    def raise_for_error(self) -> Invocation:
        if self.error or self.returncode:
            raise AssertionError(f"exit {self.returncode}\n{self.error or ''}\nstderr:\n{self.stderr[-4000:]}")
        return self


@dataclass
class LambdaRoot:
    """A folder laid out as a Lambda python3.12 container's filesystem, read-only.

    Functions that share their layers share one root: each has its own code folder
    (`var/task/<LogicalId>`, Lambda's /var/task) and every process sees only its own."""

    path: Path
    opt_python: Path = field(init=False)
    runtime: Path = field(init=False)
    python: Path = field(init=False)

    def __post_init__(self) -> None:
        self.opt_python = self.path / "opt" / "python"
        self.runtime = self.path / "var" / "runtime"
        self.python = self.path / "var" / "lang" / "bin" / "python3.12"

    @classmethod
    def create(cls, functions: list[BuiltFunction], sdk: Path, *, interpreter: str | None = None,
               bytecode: bool = True, parent: Path | None = None, opt_files: dict[str, str] | None = None) -> LambdaRoot:
        """Lay out `functions` (which must share their layers) with those layers and `sdk`;
        `bytecode=False` drops the artifact's __pycache__ folders (the SDK keeps its own), to
        measure what shipping bytecode saves. `opt_files` adds files to the merged layers
        (path under opt/python -> text), as a file added to a layer's folder before the build would be."""
        interpreter = interpreter or runtime_python()
        if not interpreter:
            raise RuntimeError("no Python 3.12 found (scripts/runtime-python): the Lambda runtime is python3.12")
        layers = {f.layers for f in functions}
        if len(layers) != 1:
            raise ValueError("functions with different layers need roots of their own")
        root = cls(Path(tempfile.mkdtemp(prefix="lambda-", dir=parent)))
        skip = None if bytecode else shutil.ignore_patterns("__pycache__", "*.pyc")
        for function in functions:
            shutil.copytree(function.code_dir, root.task(function), ignore=skip)
        root.opt_python.parent.mkdir(parents=True)
        for layer in layers.pop():  # Lambda extracts each layer's zip over the previous ones, in order
            shutil.copytree(layer, root.path / "opt", dirs_exist_ok=True, ignore=skip)
        for relative, text in (opt_files or {}).items():
            (root.opt_python / relative).write_text(text, encoding="utf-8")
        shutil.copytree(sdk, root.runtime, ignore=shutil.ignore_patterns(".complete"))
        _copy_interpreter(Path(interpreter), root.path / "var" / "lang")
        _read_only(root.path)
        return root

    def task(self, function: BuiltFunction | str) -> Path:
        name = function if isinstance(function, str) else function.logical_id
        return self.path / "var" / "task" / name

    def code_dirs(self, function: BuiltFunction | str) -> list[Path]:
        """The folders of our code and its layers' packages (not the SDK, not the stdlib)."""
        return [self.task(function), self.opt_python]

    def expected_sys_path(self, function: BuiltFunction | str) -> list[str]:
        return [str(self.task(function)), str(self.opt_python), str(self.runtime)]

    def invoke(self, function: BuiltFunction, event: Any, env: dict[str, str], *, init: bool = False,
               timeout: float = 60) -> Invocation:
        """One cold container: import the handler, optionally run its `init()`, invoke it with `event`
        (None: import only)."""
        return self._run(function.logical_id, {"handler": function.handler, "event": event, "init": init, "code": None,
                                               "function": function.logical_id, "memory_mb": function.memory_mb,
                                               "timeout_s": function.timeout_s}, env, timeout)

    def run_code(self, function: BuiltFunction | str, code: str, env: dict[str, str], timeout: float = 60) -> Invocation:
        """Run `code` in a fresh process of this layout, in `function`'s folder (the bench's baseline)."""
        name = function if isinstance(function, str) else function.logical_id
        return self._run(name, {"handler": None, "event": None, "init": False, "code": code, "function": name,
                                "memory_mb": 128, "timeout_s": 3}, env, timeout)

    def _run(self, name: str, args: dict[str, Any], env: dict[str, str], timeout: float) -> Invocation:
        lang = self.path / "var" / "lang"
        base = {"PATH": f"{lang / 'bin'}:/usr/bin:/bin", "LD_LIBRARY_PATH": f"{lang / 'lib'}",
                "LANG": "en_US.UTF-8", "TZ": ":UTC", "HOME": "/tmp", "LAMBDA_TASK_ROOT": str(self.task(name)),
                "LAMBDA_RUNTIME_DIR": str(self.runtime), "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
                "AWS_LAMBDA_FUNCTION_NAME": args["function"], "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(args["memory_mb"])}
        command = [str(self.python), "-I", "-S", "-c", CHILD, json.dumps(self.expected_sys_path(name)), json.dumps(args)]
        if os.geteuid() == 0:  # Lambda's user cannot write the code folders; neither can nobody
            command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command]
        done = subprocess.run(command, cwd=self.task(name), env={**base, **env}, capture_output=True, text=True, timeout=timeout)
        head, marker, report = done.stdout.rpartition("\n@@LAMBDA-LAYOUT@@")
        if not marker:
            raise AssertionError(f"the process died before reporting (exit {done.returncode}):\n{done.stderr[-4000:]}")
        out = json.loads(report)
        return Invocation(out.get("response"), out.get("error"), out["sys_path"], out["stdlib"], tuple(out["version"]),
                          out["uid"], out.get("init_ms"), out.get("init_cpu_ms"), out.get("first_request_ms"), out["total_ms"],
                          out["total_cpu_ms"],
                          out["compiled_from_source"], out["modules"], head, done.stderr, done.returncode)

    def remove(self) -> None:
        for folder, dirs, _ in os.walk(self.path):
            os.chmod(folder, 0o755)
        shutil.rmtree(self.path, ignore_errors=True)


def _copy_interpreter(prefix_bin: Path, lang: Path) -> None:
    """The interpreter and its stdlib as Lambda's /var/lang holds them, hard-linked where possible."""
    prefix = prefix_bin.resolve().parent.parent
    version = "python3.12"
    (lang / "bin").mkdir(parents=True)
    (lang / "lib").mkdir()
    _link_or_copy(prefix / "bin" / version, lang / "bin" / version)
    for lib in prefix.glob("lib/libpython3.12*.so*"):
        _link_or_copy(lib, lang / "lib" / lib.name)
    shutil.copytree(prefix / "lib" / version, lang / "lib" / version, copy_function=_link_or_copy,
                    ignore=lambda folder, names: [n for n in names if n in _STDLIB_SKIP and folder.endswith(version)])


def _link_or_copy(src: Any, dst: Any) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _read_only(path: Path) -> None:
    """Folders 0555 and our copied files 0444: nothing in the layout can be written (hard links
    to the interpreter's files keep the original's mode; they are root's and not writable by
    the unprivileged user anyway)."""
    for folder, dirs, files in os.walk(path, topdown=False):
        for name in files:
            p = os.path.join(folder, name)
            st = os.lstat(p)
            if st.st_nlink == 1:
                os.chmod(p, 0o555 if st.st_mode & 0o111 else 0o444)
        os.chmod(folder, 0o555)
