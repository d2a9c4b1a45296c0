#!/usr/bin/env bash
# Installs the system packages the sandbox prefers, where this machine lets us (root + apt).
# Everything degrades gracefully without them: sandbox.isolation() reports what is in force and
# tests that need a compiler skip with a reason.
set -u
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
# the sandbox runs programs under an unprivileged uid with the system interpreter (not a venv under /root)
[ -x /usr/bin/python3 ] || need+=(python3)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: installing ${need[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null 2>&1 \
    || echo "system-deps: could not install ${need[*]} (continuing; isolation falls back)"
else
  echo "system-deps: missing ${need[*]} (not root or no apt-get); isolation falls back"
fi
exit 0
