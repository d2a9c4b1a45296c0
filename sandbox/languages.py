"""How each language is compiled and run inside a box."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

ALIASES = {
    "python": "python", "python3": "python", "py": "python", "py3": "python",
    "cpp": "cpp", "c++": "cpp", "cxx": "cpp", "cpp17": "cpp", "cpp14": "cpp", "cpp20": "cpp", "cc": "cpp",
    "java": "java",
}  # fmt: skip


@dataclass(frozen=True)
class Language:
    name: str
    source_name: str
    compile_argv: tuple[str, ...] = ()  # empty: interpreted
    artifacts: tuple[str, ...] = ()  # names (or suffixes) kept after compiling
    as_overhead_mb: int = 0  # address space beyond the memory limit the runtime itself needs

    @property
    def compiled(self) -> bool:
        return bool(self.compile_argv)

    def run_argv(self, artifact_dir: str, memory_limit_mb: int) -> list[str]:
        if self.name == "cpp":
            return [f"{artifact_dir}/main"]
        if self.name == "java":
            return [
                shutil.which("java") or "/usr/bin/java",
                f"-Xmx{memory_limit_mb}m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-XX:-UsePerfData",
                "-XX:ReservedCodeCacheSize=32m",
                "-XX:MaxMetaspaceSize=128m",
                "-XX:CompressedClassSpaceSize=64m",
                "-Xshare:auto",
                "-cp",
                artifact_dir,
                "Main",
            ]
        raise ValueError(f"{self.name} is not run from an artifact")


LANGUAGES = {
    "python": Language("python", "main.py"),
    "cpp": Language(
        "cpp",
        "main.cpp",
        ("/usr/bin/g++", "-O2", "-std=gnu++17", "-pipe", "-o", "main", "main.cpp"),
        ("main",),
    ),
    "java": Language(
        "java",
        "Main.java",
        (
            "/usr/bin/javac",
            "-J-Xmx512m",
            "-J-XX:+UseSerialGC",
            "-J-XX:-UsePerfData",
            "-encoding",
            "UTF-8",
            "Main.java",
        ),
        (".class",),
        as_overhead_mb=640,
    ),
}


def get_language(name: str) -> Language:
    key = ALIASES.get(str(name).strip().lower())
    if key is None:
        raise ValueError(f"unsupported language {name!r}; use python, cpp or java")
    return LANGUAGES[key]


def available(name: str) -> bool:
    """Whether this host can run ``name`` (the compiler / runtime is installed)."""
    lang = get_language(name)
    if lang.name == "java":
        return bool(shutil.which("javac") and shutil.which("java"))
    if lang.compiled:
        return bool(shutil.which(lang.compile_argv[0]))
    return True
