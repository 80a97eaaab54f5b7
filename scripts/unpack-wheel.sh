# Sourced by the fetch scripts: unpack_wheel REQUIREMENT SOURCE/=TARGET... downloads one PyPI wheel
# (no dependencies) into $download and copies its members under each SOURCE/ into TARGET/.
# The caller sets `download` to a scratch folder it removes.
unpack_wheel() {
  local requirement=$1
  shift
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$download" "$requirement"
  local wheel
  wheel=$(ls "$download"/*.whl | head -n 1)
  python3 - "$wheel" "$@" <<'EOF_PY'
import os, shutil, sys, zipfile
wheel, parts = sys.argv[1], [arg.split("=", 1) for arg in sys.argv[2:]]
with zipfile.ZipFile(wheel) as archive:
    for member in archive.infolist():
        for source, target in parts:
            if member.is_dir() or not member.filename.startswith(source):
                continue
            path = os.path.join(target, member.filename[len(source):])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with archive.open(member) as data, open(path, "wb") as sink:
                shutil.copyfileobj(data, sink)
EOF_PY
  rm -f "$wheel"
}
