// Package grafana holds the hub's Grafana dashboard, hub.json, which the
// Helm chart ships as a ConfigMap for the Grafana sidecar
// (grafana.dashboard.enabled). The package has no code: its test starts a
// node, scrapes /metrics and fails when a panel or variable query names a
// metric the hub does not export, so the dashboard cannot drift from the
// metrics.
package grafana
