# Sourced by scripts/vm/build.sh and scripts/vm/run.sh, from the checkout's root.

# node_modules' state: names, sizes, mtimes, modes, link targets. Not .cache, which ava rewrites on
# every run. build.sh stamps the node_modules image with it; run.sh attaches the image only if current.
nm_fingerprint() {
  find node_modules -path node_modules/.cache -prune -o -printf '%P %s %T@ %m %l\n' | LC_ALL=C sort | sha256sum | cut -d' ' -f1
}
