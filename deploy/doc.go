// Package deploy holds no code: it is the home of the tests that check
// kamflow's deployment files (compose, Prometheus, Grafana, Kubernetes,
// Dockerfile) without a container engine, so `make test` catches a broken
// reference, rule or probe before anyone runs `docker compose up`.
package deploy
