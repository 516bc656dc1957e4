# Sourced by scripts/capture-fixtures.sh, capture-netfilter.sh and capture-setup.sh: the network namespaces a
# capture script owns, and the `.note` written beside every capture.
#
#   netns_fresh NAME...  creates the namespaces, after removing leftovers of an interrupted run; they are
#                        removed again when the script exits, also on failure (the EXIT trap set here, which
#                        also removes the folder CAPTURE_TMP when the script sets one)
#   write_note FILE COMMAND TOOL [NS [KEY VALUE]]
#                        writes FILE.note: the command, the tool's version, the kernel, the date and the
#                        script, then the namespace and one `KEY: VALUE` line when given
CAPTURE_NS=()
CAPTURE_TMP=
KERNEL=$(uname -r)
DATE=$(date -u +%Y-%m-%d)
CAPTURED_BY="scripts/${0##*/}"

netns_remove() {
  local n
  for n in "${CAPTURE_NS[@]}"; do ip netns del "$n" 2>/dev/null || true; done
}
capture_exit() {
  netns_remove
  if [ -n "$CAPTURE_TMP" ]; then rm -rf "$CAPTURE_TMP"; fi
}
trap capture_exit EXIT

netns_fresh() {
  CAPTURE_NS=("$@")
  netns_remove
  local n
  for n in "$@"; do ip netns add "$n"; done
}

write_note() {
  local file=$1 cmd=$2 tool=$3 ns=${4:-}
  mkdir -p "$(dirname "$file")"
  {
    printf 'command: %s\ntool: %s\nkernel: %s\ncaptured: %s by %s' "$cmd" "$tool" "$KERNEL" "$DATE" "$CAPTURED_BY"
    if [ -n "$ns" ]; then printf ' in namespace %s' "$ns"; fi
    printf '\n'
    if [ $# -ge 6 ]; then printf '%s: %s\n' "$5" "$6"; fi
  } >"$file.note"
}
