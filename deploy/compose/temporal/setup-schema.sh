#!/bin/sh
# Creates or upgrades the Temporal server's two databases (temporal and
# temporal_visibility) on temporal-db. Runs once per `docker compose up` in
# the temporalio/admin-tools image, before the server starts; every step is
# safe to repeat.
set -eu

: "${POSTGRES_SEEDS:?}" "${DB_PORT:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
schema=/etc/temporal/schema/postgresql/v12

until nc -z -w 5 "$POSTGRES_SEEDS" "$DB_PORT"; do
	echo "waiting for PostgreSQL at $POSTGRES_SEEDS:$DB_PORT"
	sleep 2
done

for db in temporal temporal_visibility; do
	dir=$schema/temporal/versioned
	[ "$db" = temporal_visibility ] && dir=$schema/visibility/versioned
	tool="temporal-sql-tool --plugin postgres12 --ep $POSTGRES_SEEDS -p $DB_PORT -u $POSTGRES_USER --db $db"
	# create fails when the database exists: that is the normal restart case.
	$tool create || echo "database $db exists"
	# setup-schema -v 0.0 only creates the version table when missing;
	# update-schema then applies whatever versions are new.
	$tool setup-schema -v 0.0
	$tool update-schema -d "$dir"
done
echo "Temporal schema is up to date"
