#!/bin/sh
# Writes the compose file's secrets once (never overwrites): a Django secret key, the first vault
# master key, the PostgreSQL password and the DATABASE_URL that uses it. Back up
# vmcp_master_keys separately from the database: a backup without it cannot be decrypted.
set -eu
dir="$(dirname "$0")/secrets"
mkdir -p "$dir"
# The folder is private on the host; the files must stay readable inside the containers (compose
# bind-mounts them as they are, and the services run as non-root users).
chmod 700 "$dir"
new() {
  [ -s "$dir/$1" ] && return 0
  printf '%s' "$2" > "$dir/$1"
  chmod 644 "$dir/$1"
  echo "wrote $dir/$1"
}
new secret_key "$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')"
new vmcp_master_keys "1:$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')"
new postgres_password "$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
new database_url "postgresql://vmcp:$(cat "$dir/postgres_password")@postgres:5432/vmcp"
