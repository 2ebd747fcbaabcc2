#!/bin/sh
# Creates kamflow's namespace on the Temporal server and registers the
# search attributes the account workflows upsert (workflows/searchattrs.go),
# so the Temporal UI can filter accounts: AccountStage = "churn_recovery".
# Runs in the temporalio/admin-tools image once the server is healthy; every
# step is safe to repeat.
set -eu

: "${TEMPORAL_ADDRESS:?}" "${TEMPORAL_NAMESPACE:?}"

until temporal operator cluster health --address "$TEMPORAL_ADDRESS"; do
	echo "waiting for Temporal at $TEMPORAL_ADDRESS"
	sleep 2
done

temporal operator namespace describe --namespace "$TEMPORAL_NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1 ||
	temporal operator namespace create --namespace "$TEMPORAL_NAMESPACE" --retention 720h --address "$TEMPORAL_ADDRESS"

for attr in AccountStage:Keyword AccountTier:Keyword AccountManager:Keyword HealthScore:Double ChurnRisk:Double; do
	name=${attr%%:*}
	type=${attr#*:}
	if temporal operator search-attribute list --namespace "$TEMPORAL_NAMESPACE" --address "$TEMPORAL_ADDRESS" | grep -qw "$name"; then
		echo "search attribute $name exists"
	else
		temporal operator search-attribute create --namespace "$TEMPORAL_NAMESPACE" --address "$TEMPORAL_ADDRESS" --name "$name" --type "$type"
	fi
done
echo "namespace $TEMPORAL_NAMESPACE is ready for kamflow"
