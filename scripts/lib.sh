# shellcheck shell=bash
# Shared helpers for scripts/setup, scripts/demo and scripts/test. Source it, do not run it.
# The sourcing script must already have cd'd to the repository root.

pw_name=${0##*/}

# die MESSAGE...: print "NAME: error: MESSAGE" on stderr and exit 1.
die() {
    printf '%s: error: %s\n' "$pw_name" "$*" >&2
    exit 1
}

# note MESSAGE...: one progress line on stderr.
note() {
    printf '%s: %s\n' "$pw_name" "$*" >&2
}

# pw_abs BASE PATH: PATH made absolute against BASE (no check that it exists).
pw_abs() {
    case $2 in
        /*) printf '%s\n' "$2" ;;
        *) printf '%s\n' "$1/$2" ;;
    esac
}

# The shared paths, all exported and absolute. A relative value given by the caller is taken
# relative to the directory the script was called from (CALLER_DIR), not the repository root.

# pw_cache_env CALLER_DIR: PASSWATCH_CACHE, default $HOME/.cache/passwatch (created if missing).
pw_cache_env() {
    if [[ -n ${PASSWATCH_CACHE:-} ]]; then
        PASSWATCH_CACHE=$(pw_abs "$1" "$PASSWATCH_CACHE")
    else
        [[ -n ${HOME:-} ]] || die "neither PASSWATCH_CACHE nor HOME is set"
        PASSWATCH_CACHE=$HOME/.cache/passwatch
    fi
    mkdir -p "$PASSWATCH_CACHE" || die "cannot create the cache directory $PASSWATCH_CACHE"
    PASSWATCH_CACHE=$(cd "$PASSWATCH_CACHE" && pwd -P)
    export PASSWATCH_CACHE
}

# pw_fixtures_env CALLER_DIR [--warn]: PASSWATCH_FIXTURES, default ../shared/fixtures from the
# repository root. A missing directory is an error, or only a warning with --warn (the path is
# still exported, so tests that need fixtures fail with a message of their own).
pw_fixtures_env() {
    local fixtures msg
    if [[ -n ${PASSWATCH_FIXTURES:-} ]]; then
        fixtures=$(pw_abs "$1" "$PASSWATCH_FIXTURES")
    else
        fixtures=$(cd .. && pwd -P)/shared/fixtures
    fi
    if [[ -d $fixtures ]]; then
        fixtures=$(cd "$fixtures" && pwd -P)
    else
        if [[ -n ${PASSWATCH_FIXTURES:-} ]]; then
            msg="fixtures not found at $fixtures (from PASSWATCH_FIXTURES=$PASSWATCH_FIXTURES)"
        else
            msg="fixtures not found at $fixtures (they are expected in ../shared/fixtures next to the repository; or set PASSWATCH_FIXTURES to their directory)"
        fi
        [[ ${2:-} == --warn ]] || die "$msg"
        note "warning: $msg"
    fi
    PASSWATCH_FIXTURES=$fixtures
    export PASSWATCH_FIXTURES
}

# pw_ort_env: ORT_DYLIB_PATH, the ONNX Runtime library in the cache, unless already set.
# Needs python3 and PASSWATCH_CACHE, so call it after scripts/setup.
pw_ort_env() {
    if [[ -z ${ORT_DYLIB_PATH:-} ]]; then
        ORT_DYLIB_PATH=$(python3 scripts/fetch-models.py --print-runtime-path) ||
            die "cannot read models/runtime.toml"
        export ORT_DYLIB_PATH
    fi
}

# pw_step NAME COMMAND...: run COMMAND, then print how long it took (and whether it failed).
pw_step() {
    local name=$1 start=$SECONDS rc=0
    shift
    printf '==> %s: %s\n' "$name" "$*" >&2
    "$@" || rc=$?
    if ((rc == 0)); then
        printf '==> %s: ok in %ds\n' "$name" $((SECONDS - start)) >&2
    else
        printf '==> %s: FAILED (exit %d) after %ds\n' "$name" "$rc" $((SECONDS - start)) >&2
    fi
    return "$rc"
}

# pw_reference_venv: the reference pipeline's own venv (bench/reference, run by
# `passwatch bench --compare-reference`): ${PASSWATCH_CACHE}/venv-reference with the pinned
# bench/reference/requirements.txt installed from PyPI. Made when missing, brought up to date
# when the requirements change (their SHA-256 is kept in the venv), silent otherwise. Needs
# PASSWATCH_CACHE and python3 with its venv module.
pw_reference_venv() {
    local venv=$PASSWATCH_CACHE/venv-reference
    local req=bench/reference/requirements.txt
    local stamp=$venv/.passwatch-requirements.sha256
    local want
    [[ -f $req ]] || die "$req not found"
    want=$(sha256sum "$req") || die "cannot hash $req"
    want=${want%% *}
    if [[ -x $venv/bin/python && -f $stamp && $(<"$stamp") == "$want" ]]; then
        return 0
    fi
    # One set-up at a time per cache (the model fetch has the same rule).
    local lock fd
    lock=$PASSWATCH_CACHE/.venv-reference.lock
    exec {fd}>"$lock"
    flock "$fd"
    if [[ -x $venv/bin/python && -f $stamp && $(<"$stamp") == "$want" ]]; then
        exec {fd}>&-
        return 0
    fi
    local log=$PASSWATCH_CACHE/logs/venv-reference.log
    mkdir -p "${log%/*}"
    note "installing the reference pipeline's packages ($req) into $venv (log: $log)"
    : >"$log"
    if [[ ! -x $venv/bin/python ]] && ! python3 -m venv "$venv" >>"$log" 2>&1; then
        cat "$log" >&2
        die "cannot create the venv $venv (is python3-venv installed?)"
    fi
    if ! PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install --no-input \
        -r "$req" >>"$log" 2>&1 </dev/null; then
        cat "$log" >&2
        die "pip install -r $req failed (log above, also in $log)"
    fi
    printf '%s\n' "$want" >"$stamp"
    exec {fd}>&-
}
