// Package e2e holds end-to-end tests that drive a real browser (Debian's
// headless Chromium through chromedriver's WebDriver HTTP API) against the
// demo page of an in-process node. The tests skip when Chromium or
// chromedriver is not installed (apt-get install -y chromium chromium-driver).
package e2e
