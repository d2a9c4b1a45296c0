"""Compiled programs run at every isolation level wherever the compile cache lives, /tmp included.

Was: at the unshare level a box mounts a private tmpfs over /tmp, so a cache under /tmp
(``RING_SANDBOX_CACHE``, or ``~/.cache`` with a HOME under /tmp) was invisible inside the box and every
C++ / Java program failed with "cannot start program" (a silent wrong reward for correct code).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

import sandbox
from sandbox import box, isolate

PROGRAM = '#include <cstdio>\nint main(){long long a,b;scanf("%lld %lld",&a,&b);printf("%lld\\n",a*b);}\n'
LEVELS = [
    pytest.param("bwrap", marks=pytest.mark.skipif(not shutil.which("bwrap"), reason="no bwrap")),
    pytest.param("unshare", marks=pytest.mark.skipif(not shutil.which("unshare"), reason="no unshare")),
    "none",
]


@pytest.mark.skipif(not sandbox.language_available("cpp"), reason="g++ is not installed")
@pytest.mark.parametrize("level", LEVELS)
def test_a_compile_cache_under_tmp_works_at_every_level(level, monkeypatch):
    cache = tempfile.mkdtemp(prefix="ring-cache-under-tmp-")
    os.chmod(cache, 0o755)
    box.POOL.close()
    monkeypatch.setenv("RING_SANDBOX_CACHE", cache)
    monkeypatch.setenv("RING_SANDBOX_ISOLATION", level)
    isolate.choose_plan.cache_clear()
    try:
        if sandbox.run_code("print('up')", "python").stdout != "up\n":
            pytest.skip(f"isolation level {level} does not work on this host")
        code = PROGRAM + f"// {level} {os.getpid()}\n"  # a fresh source: compiled now, cached next
        first = sandbox.run_code(code, "cpp", "6 7\n")
        again = sandbox.run_code(code, "cpp", "-3 5\n")
        assert (first.status, first.stdout) == ("ok", "42\n"), first.stderr[-300:]
        assert (again.status, again.stdout) == ("ok", "-15\n"), again.stderr[-300:]
        assert again.extra["compile"]["extra"].get("cached") is True
        # the run in between wiped scratch, yet the cache is still there (above); and no program can
        # plant a binary in it
        seen = isolate.cache_in_box(isolate.choose_plan(), cache)
        plant = f"try:\n    open({seen!r} + '/planted', 'w')\n    print('WROTE')\nexcept OSError:\n    print('denied')\n"
        attack = sandbox.run_code(plant, "python")
        if level != "none" or os.geteuid() == 0:  # the fallback without root runs as the cache's owner
            assert attack.stdout == "denied\n"
        assert not os.path.exists(os.path.join(cache, "planted"))
    finally:
        box.POOL.close()
        monkeypatch.undo()
        isolate.choose_plan.cache_clear()
        shutil.rmtree(cache, ignore_errors=True)
