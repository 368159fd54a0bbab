#!/usr/bin/env bash
# Install or upgrade camera-service on a systemd host, from this repository checkout.
#
#   sudo deploy/install.sh                  install, or upgrade in place (idempotent)
#   deploy/install.sh --dry-run             print every step, change nothing
#   DESTDIR=/tmp/stage deploy/install.sh    stage the files under DESTDIR (packaging,
#                                           tests): no user, no chown, no systemctl
#
# Environment: PREFIX (venv, default /opt/camera-service), PYTHON (python3, 3.11+),
# UV (uv executable; default: uv on PATH). With uv the venv holds exactly the locked
# versions (uv.lock); without it pip installs from pyproject.toml's ranges.
# Kept on upgrades: /etc/camera-service/config.yaml, camera-service.env, the data dir.
set -euo pipefail

usage() { sed -n '2,12s/^# \{0,1\}//p' "$0"; }

dry_run=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
destdir=${DESTDIR:-}
prefix=${PREFIX:-/opt/camera-service}
python=${PYTHON:-python3}
uv=${UV:-$(command -v uv || true)}
user=camera-service
conf_dir=/etc/camera-service
data_dir=/var/lib/camera-service
unit_dir=/etc/systemd/system
staged=0
[ -n "$destdir" ] && staged=1

say() { printf 'install.sh: %s\n' "$*"; }

# Every command that changes the system goes through run: --dry-run only prints it.
run() {
  if [ "$dry_run" = 1 ]; then
    printf '+ %s\n' "$*"
  else
    "$@"
  fi
}

# Owner options for install(1): only on a real install (a staged tree has no such user).
owned() {
  if [ "$staged" = 1 ]; then
    printf '%s\n' "$@" | grep -v -e '^-o' -e '^-g' || true
  else
    printf '%s\n' "$@"
  fi
}

install_dir() {  # install_dir MODE OWNER GROUP PATH
  local opts
  mapfile -t opts < <(owned "-m" "$1" "-o$2" "-g$3")
  run install -d "${opts[@]}" "$destdir$4"
}

install_file() {  # install_file MODE OWNER GROUP SRC DEST [keep]
  local opts
  if [ "${6:-}" = keep ] && [ -e "$destdir$5" ]; then
    say "kept $5"
    return
  fi
  mapfile -t opts < <(owned "-m" "$1" "-o$2" "-g$3")
  run install "${opts[@]}" "$4" "$destdir$5"
}

check_python() {
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "install.sh: $python is missing or older than 3.11 (set PYTHON=...)" >&2
    exit 1
  fi
  # The venv runs on this interpreter; the unit's ProtectHome=yes hides home directories
  # from the service, so one installed under a home (pyenv, a user's uv) cannot start.
  local base
  base=$("$python" -c 'import os, sys; print(os.path.realpath(sys.base_prefix))')
  case "$base/" in
    /home/* | /root/* | /run/user/*)
      echo "install.sh: $python lives in $base, which the service cannot see" \
        "(ProtectHome=yes): use a system Python, e.g. PYTHON=/usr/bin/python3" >&2
      exit 1
      ;;
  esac
}

create_user() {
  if [ "$staged" = 1 ]; then
    say "staged install: user $user not created"
    return
  fi
  if ! getent group video >/dev/null; then
    run groupadd --system video
  fi
  if getent passwd "$user" >/dev/null; then
    run usermod --append --groups video "$user"
  else
    run useradd --system --user-group --groups video --home-dir "$data_dir" \
      --no-create-home --shell /usr/sbin/nologin "$user"
  fi
}

install_venv() {
  local venv=$destdir$prefix
  if [ -n "$uv" ]; then
    # Relocatable: the scripts find their Python beside them instead of naming the
    # directory they were built in, so a tree staged under DESTDIR runs where it lands.
    if [ ! -e "$venv/pyvenv.cfg" ]; then
      run env UV_PYTHON_DOWNLOADS=never "$uv" venv --relocatable --python "$python" \
        --quiet "$venv"
    fi
    run env UV_PROJECT_ENVIRONMENT="$venv" UV_PYTHON_DOWNLOADS=never \
      "$uv" sync --project "$repo" --frozen --no-dev --no-editable --python "$python" --quiet
    # Bytecode names its source file: as it will be after DESTDIR is gone.
    run "$venv/bin/python" -m compileall -q -j 0 -s "${destdir:-/}" -p / "$venv/lib"
  else
    say "uv not found: installing with pip from pyproject.toml (versions not locked)"
    [ -x "$venv/bin/python" ] || run "$python" -m venv "$venv"
    run "$venv/bin/pip" install --quiet --upgrade "$repo"
    if [ "$staged" = 1 ]; then
      # pip's scripts name the venv they were made in: the staged one. Point them at
      # where it lands.
      run find "$venv/bin" -maxdepth 1 -type f -exec \
        sed -i "s|$destdir$prefix/|$prefix/|g" {} +
      run "$venv/bin/python" -m compileall -q -j 0 -s "$destdir" -p / "$venv/lib"
    fi
  fi
}

install_unit() {
  local unit=$repo/deploy/systemd/camera-service.service
  if [ "$prefix" != /opt/camera-service ]; then
    local tmp
    tmp=$(mktemp)
    sed "s|/opt/camera-service/|$prefix/|g" "$unit" >"$tmp"
    unit=$tmp
  fi
  install_dir 0755 root root "$unit_dir"
  install_file 0644 root root "$unit" "$unit_dir/camera-service.service"
}

env_template() {
  cat <<'EOF'
# Environment of camera-service.service: secrets and single-key overrides.
# CAMERA_SERVICE_<SECTION>_<KEY>=value (docs/configuration.md). Unset JWT secret: the
# service generates one in /var/lib/camera-service/jwt_secret.
#CAMERA_SERVICE_JWT_SECRET=
EOF
}

main() {
  check_python
  [ "$dry_run" = 1 ] && say "dry run: nothing is changed"
  create_user
  run mkdir -p "$destdir$(dirname "$prefix")"
  install_venv
  install_dir 0750 root "$user" "$conf_dir"
  install_file 0640 root "$user" "$repo/deploy/config.example.yaml" "$conf_dir/config.yaml" keep
  local env_file
  env_file=$(mktemp)
  env_template >"$env_file"
  install_file 0600 root root "$env_file" "$conf_dir/camera-service.env" keep
  rm -f "$env_file"
  install_dir 0700 "$user" "$user" "$data_dir"
  install_unit
  if [ "$staged" = 1 ]; then
    say "staged under $destdir: systemctl not run"
  elif [ "$dry_run" = 1 ]; then
    run systemctl daemon-reload
  else
    run systemctl daemon-reload
    say "installed; start it with: systemctl enable --now camera-service"
    say "after an upgrade: systemctl restart camera-service"
  fi
}

main
