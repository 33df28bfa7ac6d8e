// Package charttest renders the hub Helm chart with `helm template` for several
// value sets, decodes every manifest strictly into the Kubernetes API types
// (unknown or duplicate fields fail) and checks the wiring: ports, probes, env,
// secret references, the join address, the rendered hub.hcl.
//
// helm is taken from $HELM, else from PATH, else from <repo>/bin/helm.
package charttest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

const (
	chartDir  = "../hub"
	release   = "hub" // contains the chart name, so the fullname is "hub"
	namespace = "hubns"
	fullname  = "hub"
	headless  = "hub-headless"
)

// rendered holds the typed objects of one `helm template` run.
type rendered struct {
	configMap       *corev1.ConfigMap
	dashboard       *corev1.ConfigMap // the Grafana dashboard, grafana.dashboard.enabled
	testPod         *corev1.Pod       // the helm test hook
	secret          *corev1.Secret    // the auth Secret
	clusterSecret   *corev1.Secret    // <fullname>-cluster: the cluster secret and the NATS backend password
	serviceAccount  *corev1.ServiceAccount
	services        map[string]*corev1.Service
	statefulSet     *appsv1.StatefulSet
	pdb             *policyv1.PodDisruptionBudget
	hpa             *autoscalingv2.HorizontalPodAutoscaler
	ingress         *networkingv1.Ingress
	serviceMonitor  *monitoringv1.ServiceMonitor
	prometheusRule  *monitoringv1.PrometheusRule
	networkPolicy   *networkingv1.NetworkPolicy
	kinds           []string
	hcl             string
	hclFile         *hcl.File
	metas           []*metav1.ObjectMeta
	renderedRawYAML string
}

func helmBinary(t *testing.T) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	if h, err := exec.LookPath("helm"); err == nil {
		return h
	}
	if h, err := filepath.Abs("../../../bin/helm"); err == nil {
		if _, err := os.Stat(h); err == nil {
			return h
		}
	}
	t.Fatal("helm not found: set HELM, put helm on PATH, or run deploy/helm/check.sh (it installs one into bin/)")
	return ""
}

func helmTemplate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), append([]string{"template", release, chartDir, "--namespace", namespace}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("helm template %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String(), nil
}

// strictDecode decodes one YAML document into v, failing on unknown and duplicate fields.
func strictDecode(doc []byte, v any) error {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(js, v)
	if err != nil {
		return err
	}
	if len(strictErrs) > 0 {
		return errors.Join(strictErrs...)
	}
	return nil
}

func render(t *testing.T, args ...string) *rendered {
	t.Helper()
	out, err := helmTemplate(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	r := &rendered{services: map[string]*corev1.Service{}, renderedRawYAML: out}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(out)))
	for {
		doc, err := reader.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("split manifests: %v", err)
		}
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			t.Fatalf("YAML: %v\n%s", err, doc)
		}
		if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue // a document of comments only
		}
		var tm metav1.TypeMeta
		if err := json.Unmarshal(js, &tm); err != nil {
			t.Fatalf("type meta: %v\n%s", err, doc)
		}
		gvk := tm.APIVersion + "/" + tm.Kind
		var obj any
		var meta *metav1.ObjectMeta
		switch gvk {
		case "v1/ConfigMap":
			o := &corev1.ConfigMap{}
			obj, meta = o, &o.ObjectMeta
		case "v1/Pod":
			o := &corev1.Pod{}
			obj, meta, r.testPod = o, &o.ObjectMeta, o
		case "v1/Secret":
			o := &corev1.Secret{}
			obj, meta = o, &o.ObjectMeta
		case "v1/ServiceAccount":
			o := &corev1.ServiceAccount{}
			obj, meta, r.serviceAccount = o, &o.ObjectMeta, o
		case "v1/Service":
			o := &corev1.Service{}
			obj, meta = o, &o.ObjectMeta
		case "apps/v1/StatefulSet":
			o := &appsv1.StatefulSet{}
			obj, meta, r.statefulSet = o, &o.ObjectMeta, o
		case "policy/v1/PodDisruptionBudget":
			o := &policyv1.PodDisruptionBudget{}
			obj, meta, r.pdb = o, &o.ObjectMeta, o
		case "autoscaling/v2/HorizontalPodAutoscaler":
			o := &autoscalingv2.HorizontalPodAutoscaler{}
			obj, meta, r.hpa = o, &o.ObjectMeta, o
		case "networking.k8s.io/v1/Ingress":
			o := &networkingv1.Ingress{}
			obj, meta, r.ingress = o, &o.ObjectMeta, o
		case "monitoring.coreos.com/v1/ServiceMonitor":
			o := &monitoringv1.ServiceMonitor{}
			obj, meta, r.serviceMonitor = o, &o.ObjectMeta, o
		case "monitoring.coreos.com/v1/PrometheusRule":
			o := &monitoringv1.PrometheusRule{}
			obj, meta, r.prometheusRule = o, &o.ObjectMeta, o
		case "networking.k8s.io/v1/NetworkPolicy":
			o := &networkingv1.NetworkPolicy{}
			obj, meta, r.networkPolicy = o, &o.ObjectMeta, o
		default:
			t.Fatalf("unexpected kind %s in the chart output:\n%s", gvk, doc)
		}
		if err := strictDecode(doc, obj); err != nil {
			t.Fatalf("%s does not decode strictly: %v\n%s", gvk, err, doc)
		}
		if sec, ok := obj.(*corev1.Secret); ok {
			if strings.HasSuffix(sec.Name, "-cluster") {
				r.clusterSecret = sec
			} else {
				r.secret = sec
			}
		}
		if cm, ok := obj.(*corev1.ConfigMap); ok {
			if strings.HasSuffix(cm.Name, "-grafana-dashboard") {
				r.dashboard = cm
			} else {
				r.configMap = cm
			}
		}
		if svc, ok := obj.(*corev1.Service); ok {
			if r.services[svc.Name] != nil {
				t.Fatalf("two Services named %s", svc.Name)
			}
			r.services[svc.Name] = svc
		}
		r.kinds = append(r.kinds, tm.Kind)
		r.metas = append(r.metas, meta)
	}
	if r.configMap == nil || r.statefulSet == nil {
		t.Fatalf("no ConfigMap or StatefulSet rendered; kinds: %v", r.kinds)
	}
	r.hcl = r.configMap.Data["hub.hcl"]
	file, diags := hclsyntax.ParseConfig([]byte(r.hcl), "hub.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("hub.hcl is not valid HCL: %s\n%s", diags.Error(), r.hcl)
	}
	r.hclFile = file
	checkWithHub(t, r)
	return r
}

// checkWithHub runs `hub config check` on the rendered hub.hcl when a hub binary
// is at hand ($HUB_BIN, or <repo>/bin/hub from `make build`), so the chart and
// the binary's config schema cannot drift apart unnoticed.
func checkWithHub(t *testing.T, r *rendered) {
	t.Helper()
	bin := os.Getenv("HUB_BIN")
	if bin == "off" {
		return
	}
	if bin == "" {
		if p, err := filepath.Abs("../../../bin/hub"); err == nil {
			if _, err := os.Stat(p); err == nil {
				bin = p
			}
		}
	}
	if bin == "" {
		t.Log("no hub binary (HUB_BIN or bin/hub): hub.hcl checked as HCL only")
		return
	}
	c := r.container(t)
	if envVar(t, c, "HUB_NATS_URL") != nil {
		// `config check` reads the file alone; the pod adds the URL from the environment.
		t.Log("NATS URL comes from the environment: hub config check skipped")
		return
	}
	path := filepath.Join(t.TempDir(), "hub.hcl")
	if err := os.WriteFile(path, []byte(r.hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "config", "check", path).CombinedOutput()
	if err != nil {
		t.Fatalf("hub config check rejects the rendered hub.hcl: %v\n%s\n%s", err, out, r.hcl)
	}
}

func valuesFile(name string) []string {
	return []string{"-f", filepath.Join(chartDir, "ci", name)}
}

// ---- helpers for the assertions ----

func (r *rendered) container(t *testing.T) *corev1.Container {
	t.Helper()
	cs := r.statefulSet.Spec.Template.Spec.Containers
	if len(cs) != 1 || cs[0].Name != "hub" {
		t.Fatalf("want one container named hub, got %d", len(cs))
	}
	return &cs[0]
}

func envVar(t *testing.T, c *corev1.Container, name string) *corev1.EnvVar {
	t.Helper()
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func envIndex(c *corev1.Container, name string) int {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return i
		}
	}
	return -1
}

func wantEnvValue(t *testing.T, c *corev1.Container, name, want string) {
	t.Helper()
	e := envVar(t, c, name)
	if e == nil {
		t.Fatalf("env %s missing", name)
	}
	if e.Value != want || e.ValueFrom != nil {
		t.Fatalf("env %s = %q (valueFrom %v), want %q", name, e.Value, e.ValueFrom, want)
	}
}

func wantEnvSecret(t *testing.T, c *corev1.Container, name, secret, key string, optional bool) {
	t.Helper()
	e := envVar(t, c, name)
	if e == nil {
		t.Fatalf("env %s missing", name)
	}
	if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		t.Fatalf("env %s must come from a secretKeyRef, got %+v", name, e)
	}
	ref := e.ValueFrom.SecretKeyRef
	if ref.Name != secret || ref.Key != key {
		t.Fatalf("env %s from secret %s/%s, want %s/%s", name, ref.Name, ref.Key, secret, key)
	}
	gotOptional := ref.Optional != nil && *ref.Optional
	if gotOptional != optional {
		t.Fatalf("env %s optional = %v, want %v", name, gotOptional, optional)
	}
}

func containerPort(c *corev1.Container, name string) *corev1.ContainerPort {
	for i := range c.Ports {
		if c.Ports[i].Name == name {
			return &c.Ports[i]
		}
	}
	return nil
}

func servicePort(svc *corev1.Service, name string) *corev1.ServicePort {
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Name == name {
			return &svc.Spec.Ports[i]
		}
	}
	return nil
}

// hclBlocks returns the top-level blocks of hub.hcl of the given type.
func (r *rendered) hclBlocks(typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range r.hclFile.Body.(*hclsyntax.Body).Blocks {
		if b.Type == typ {
			out = append(out, b)
		}
	}
	return out
}

func (r *rendered) hclBlock(t *testing.T, typ string, labels ...string) *hclsyntax.Block {
	t.Helper()
	for _, b := range r.hclBlocks(typ) {
		if strings.Join(b.Labels, "/") == strings.Join(labels, "/") {
			return b
		}
	}
	return nil
}

// hclAttr evaluates a constant attribute of a block (no variables allowed).
func hclAttr(t *testing.T, b *hclsyntax.Block, name string) (any, bool) {
	t.Helper()
	a, ok := b.Body.Attributes[name]
	if !ok {
		return nil, false
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		t.Fatalf("hub.hcl %s.%s does not evaluate to a constant: %s", b.Type, name, diags.Error())
	}
	switch {
	case v.Type().FriendlyName() == "string":
		return v.AsString(), true
	case v.Type().FriendlyName() == "number":
		f, _ := v.AsBigFloat().Float64()
		return f, true
	case v.Type().IsTupleType() || v.Type().IsListType():
		var list []string
		for _, e := range v.AsValueSlice() {
			list = append(list, e.AsString())
		}
		return list, true
	case v.Type().FriendlyName() == "bool":
		return v.True(), true
	}
	t.Fatalf("hub.hcl %s.%s: unexpected type %s", b.Type, name, v.Type().FriendlyName())
	return nil, false
}

// ---- checks common to every value set ----

type expect struct {
	replicas       *int32 // nil: owned by the HPA
	embedded       bool
	exposeNATS     bool
	gossipPort     int32
	join           string
	secretName     string // secret the env refs point at ("" = no JWT/API env)
	secretOptional bool
	chartSecret    bool // the chart renders its own Secret
	publicKey      bool
	secretValues   []string // values that must never appear in the ConfigMap
	metricsPort    int32    // 0 = on http
	antiAffinity   string   // soft, hard
}

func checkCommon(t *testing.T, r *rendered, e expect) {
	t.Helper()
	c := r.container(t)
	sts := r.statefulSet
	pod := sts.Spec.Template

	// Every object in the release namespace, with the chart's labels.
	for i, m := range r.metas {
		if m.Namespace != namespace && (r.dashboard == nil || m.Name != r.dashboard.Name) {
			t.Errorf("%s %s: namespace %q, want %q", r.kinds[i], m.Name, m.Namespace, namespace)
		}
		if r.testPod != nil && m == &r.testPod.ObjectMeta {
			continue // checkTestPod: deliberately not the hub's selector labels
		}
		if m.Labels["app.kubernetes.io/name"] != "hub" || m.Labels["app.kubernetes.io/instance"] != release {
			t.Errorf("%s %s: missing chart labels: %v", r.kinds[i], m.Name, m.Labels)
		}
	}

	// StatefulSet shape.
	if sts.Name != fullname {
		t.Errorf("StatefulSet name %q", sts.Name)
	}
	if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("podManagementPolicy = %q, want Parallel", sts.Spec.PodManagementPolicy)
	}
	if sts.Spec.ServiceName != headless {
		t.Errorf("serviceName = %q, want %q", sts.Spec.ServiceName, headless)
	}
	switch {
	case e.replicas == nil && sts.Spec.Replicas != nil:
		t.Errorf("replicas set (%d) while the HPA owns them", *sts.Spec.Replicas)
	case e.replicas != nil && (sts.Spec.Replicas == nil || *sts.Spec.Replicas != *e.replicas):
		t.Errorf("replicas = %v, want %d", sts.Spec.Replicas, *e.replicas)
	}
	sel, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
		t.Errorf("StatefulSet selector %v does not match the pod labels %v", sts.Spec.Selector, pod.Labels)
	}
	if pod.Annotations["checksum/config"] == "" {
		t.Error("pod template has no checksum/config annotation")
	}
	if e.chartSecret && pod.Annotations["checksum/secret"] == "" {
		t.Error("pod template has no checksum/secret annotation")
	}

	// Command line.
	if strings.Join(c.Args[:2], " ") != "-config /etc/hub/hub.hcl" {
		t.Errorf("args = %v", c.Args)
	}

	// Env: node name, pod IP, advertise, join.
	if e := envVar(t, c, "HUB_NODE_NAME"); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("HUB_NODE_NAME must come from metadata.name: %+v", e)
	}
	if e := envVar(t, c, "POD_IP"); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "status.podIP" {
		t.Errorf("POD_IP must come from status.podIP: %+v", e)
	}
	wantEnvValue(t, c, "HUB_GOSSIP_ADVERTISE", fmt.Sprintf("$(POD_IP):%d", e.gossipPort))
	if envIndex(c, "POD_IP") > envIndex(c, "HUB_GOSSIP_ADVERTISE") {
		t.Error("POD_IP must be defined before HUB_GOSSIP_ADVERTISE for $(POD_IP) to expand")
	}
	wantEnvValue(t, c, "HUB_JOIN", e.join)
	for _, ev := range c.Env {
		for _, s := range e.secretValues {
			if strings.Contains(ev.Value, s) {
				t.Errorf("env %s holds a secret value literally", ev.Name)
			}
		}
	}

	// Secrets by reference.
	if e.secretName != "" {
		wantEnvSecret(t, c, "HUB_JWT_SECRET", e.secretName, "jwt-secret", e.secretOptional)
		wantEnvSecret(t, c, "HUB_API_KEY", e.secretName, "api-key", e.secretOptional)
	}
	if e.chartSecret != (r.secret != nil) {
		t.Errorf("chart Secret rendered = %v, want %v", r.secret != nil, e.chartSecret)
	}

	// Ports.
	wantPort := func(name string, port int32, proto corev1.Protocol) {
		t.Helper()
		p := containerPort(c, name)
		if p == nil || p.ContainerPort != port || p.Protocol != proto {
			t.Errorf("container port %s = %+v, want %d/%s", name, p, port, proto)
		}
	}
	wantPort("http", 8080, corev1.ProtocolTCP)
	wantPort("gossip", e.gossipPort, corev1.ProtocolTCP)
	wantPort("gossip-udp", e.gossipPort, corev1.ProtocolUDP)
	if e.embedded {
		wantPort("nats", 4222, corev1.ProtocolTCP)
		wantPort("nats-route", 6222, corev1.ProtocolTCP)
	} else if containerPort(c, "nats") != nil || containerPort(c, "nats-route") != nil {
		t.Error("NATS ports opened although NATS is external")
	}
	if e.metricsPort != 0 {
		wantPort("metrics", e.metricsPort, corev1.ProtocolTCP)
	}

	// Probes.
	probe := func(name string, p *corev1.Probe, path string) {
		t.Helper()
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s probe missing", name)
			return
		}
		if p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe = %s on %s, want %s on http", name, p.HTTPGet.Path, p.HTTPGet.Port.String(), path)
		}
	}
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("liveness", c.LivenessProbe, "/healthz")
	if c.StartupProbe != nil {
		probe("startup", c.StartupProbe, "/healthz")
	}

	// Graceful stop: preStop sleep, then the drain within the grace period.
	shutdown := r.hclBlock(t, "node")
	if shutdown == nil {
		t.Fatal("hub.hcl has no node block")
	}
	st, _ := hclAttr(t, shutdown, "shutdown_timeout")
	var shutdownSeconds int64
	if _, err := fmt.Sscanf(st.(string), "%ds", &shutdownSeconds); err != nil {
		t.Fatalf("shutdown_timeout %q: %v", st, err)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds < 1 {
		t.Fatalf("preStop sleep missing: %+v", c.Lifecycle)
	}
	grace := pod.Spec.TerminationGracePeriodSeconds
	if grace == nil || *grace <= c.Lifecycle.PreStop.Sleep.Seconds+shutdownSeconds {
		t.Errorf("terminationGracePeriodSeconds %v must exceed preStop %d + shutdown_timeout %d",
			grace, c.Lifecycle.PreStop.Sleep.Seconds, shutdownSeconds)
	}

	// Security context.
	psc := pod.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod securityContext.runAsNonRoot must be true")
	}
	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container securityContext not locked down: %+v", sc)
	}
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
		t.Error("service account token must not be mounted")
	}
	if r.serviceAccount == nil || pod.Spec.ServiceAccountName != r.serviceAccount.Name {
		t.Error("pods must use the chart's ServiceAccount")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources not set: %+v", c.Resources)
	}

	// Anti-affinity between hub pods.
	aff := pod.Spec.Affinity
	if aff == nil || aff.PodAntiAffinity == nil {
		t.Fatal("no pod anti-affinity")
	}
	var term *corev1.PodAffinityTerm
	switch e.antiAffinity {
	case "soft":
		if p := aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution; len(p) == 1 {
			term = &p[0].PodAffinityTerm
		}
	case "hard":
		if p := aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution; len(p) == 1 {
			term = &p[0]
		}
	}
	if term == nil {
		t.Fatalf("want %s anti-affinity, got %+v", e.antiAffinity, aff.PodAntiAffinity)
	}
	if as, _ := metav1.LabelSelectorAsSelector(term.LabelSelector); term.TopologyKey != "kubernetes.io/hostname" || !as.Matches(labels.Set(pod.Labels)) {
		t.Errorf("anti-affinity term does not select the hub pods by host: %+v", term)
	}

	// Config volume: hub.hcl from the ConfigMap (and the public key) at /etc/hub.
	var mounted bool
	for _, m := range c.VolumeMounts {
		if m.Name == "config" && m.MountPath == "/etc/hub" && m.ReadOnly {
			mounted = true
		}
	}
	if !mounted {
		t.Error("config volume not mounted read-only at /etc/hub")
	}
	var vol *corev1.Volume
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == "config" {
			vol = &pod.Spec.Volumes[i]
		}
	}
	if vol == nil || vol.Projected == nil {
		t.Fatal("no projected config volume")
	}
	var cmOK, keyOK bool
	for _, src := range vol.Projected.Sources {
		if src.ConfigMap != nil && src.ConfigMap.Name == r.configMap.Name && len(src.ConfigMap.Items) == 1 && src.ConfigMap.Items[0].Path == "hub.hcl" {
			cmOK = true
		}
		if src.Secret != nil && len(src.Secret.Items) == 1 && src.Secret.Items[0].Path == "jwt/public.pem" {
			keyOK = src.Secret.Name == e.secretNameOrChart()
		}
	}
	if !cmOK {
		t.Error("projected volume does not hold hub.hcl from the ConfigMap")
	}
	if keyOK != e.publicKey {
		t.Errorf("public key mounted = %v, want %v", keyOK, e.publicKey)
	}
	if vol.Projected.DefaultMode == nil || *vol.Projected.DefaultMode != 0o444 {
		t.Errorf("config volume mode = %v, want 0444", vol.Projected.DefaultMode)
	}

	// Headless service: gossip and NATS routes, not-ready pods included.
	hs := r.services[headless]
	if hs == nil {
		t.Fatalf("no headless service %s; services: %v", headless, r.services)
	}
	if hs.Spec.ClusterIP != corev1.ClusterIPNone || !hs.Spec.PublishNotReadyAddresses {
		t.Errorf("headless service: clusterIP %q publishNotReadyAddresses %v", hs.Spec.ClusterIP, hs.Spec.PublishNotReadyAddresses)
	}
	wantSvcPort := func(svc *corev1.Service, name string, port int32, proto corev1.Protocol) {
		t.Helper()
		p := servicePort(svc, name)
		if p == nil || p.Port != port || p.Protocol != proto {
			t.Errorf("service %s port %s = %+v, want %d/%s", svc.Name, name, p, port, proto)
			return
		}
		// The target must be a named container port with the same protocol.
		cp := containerPort(c, p.TargetPort.String())
		if cp == nil || cp.Protocol != proto {
			t.Errorf("service %s port %s targets %q which is no %s container port", svc.Name, name, p.TargetPort.String(), proto)
		}
	}
	wantSvcPort(hs, "gossip", e.gossipPort, corev1.ProtocolTCP)
	wantSvcPort(hs, "gossip-udp", e.gossipPort, corev1.ProtocolUDP)
	if e.embedded {
		wantSvcPort(hs, "nats-route", 6222, corev1.ProtocolTCP)
		wantSvcPort(hs, "nats", 4222, corev1.ProtocolTCP)
	} else if len(hs.Spec.Ports) != 2 {
		t.Errorf("headless service with external NATS has ports %v", hs.Spec.Ports)
	}

	// Client service.
	cs := r.services[fullname]
	if cs == nil {
		t.Fatal("no client service")
	}
	if cs.Spec.ClusterIP == corev1.ClusterIPNone || cs.Spec.PublishNotReadyAddresses {
		t.Error("client service must route to ready pods only")
	}
	wantSvcPort(cs, "http", 8080, corev1.ProtocolTCP)
	if e.exposeNATS {
		wantSvcPort(cs, "nats", 4222, corev1.ProtocolTCP)
	} else if servicePort(cs, "nats") != nil {
		t.Error("client service exposes NATS although it should not")
	}
	if e.metricsPort != 0 {
		wantSvcPort(cs, "metrics", e.metricsPort, corev1.ProtocolTCP)
	}
	for _, svc := range r.services {
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) || len(svc.Spec.Selector) == 0 {
			t.Errorf("service %s selector %v does not select the hub pods", svc.Name, svc.Spec.Selector)
		}
	}

	// hub.hcl.
	if len(r.hclBlocks("connector")) != 2 {
		t.Errorf("want connectors ws and bus in hub.hcl:\n%s", r.hcl)
	}
	ws := r.hclBlock(t, "connector", "ws")
	if ws == nil {
		t.Fatal("no connector \"ws\"")
	}
	if v, _ := hclAttr(t, ws, "type"); v != "websocket" {
		t.Errorf("ws type = %v", v)
	}
	if v, _ := hclAttr(t, ws, "port"); v != float64(8080) {
		t.Errorf("ws port = %v", v)
	}
	bus := r.hclBlock(t, "connector", "bus")
	if bus == nil {
		t.Fatal("no connector \"bus\"")
	}
	if v, _ := hclAttr(t, bus, "type"); v != "nats" {
		t.Errorf("bus type = %v", v)
	}
	_, hasURL := hclAttr(t, bus, "url")
	_, hasListen := hclAttr(t, bus, "listen")
	_, hasClusterListen := hclAttr(t, bus, "cluster_listen")
	if e.embedded && (hasURL || !hasListen || !hasClusterListen) {
		t.Errorf("embedded NATS: want listen and cluster_listen and no url:\n%s", r.hcl)
	}
	if !e.embedded && (hasListen || hasClusterListen) {
		t.Errorf("external NATS: no embedded listeners expected:\n%s", r.hcl)
	}
	cl := r.hclBlock(t, "cluster")
	if cl == nil {
		t.Fatal("no cluster block")
	}
	if v, _ := hclAttr(t, cl, "bind"); v != fmt.Sprintf("0.0.0.0:%d", e.gossipPort) {
		t.Errorf("cluster.bind = %v", v)
	}
	if v, _ := hclAttr(t, cl, "join"); strings.Join(v.([]string), ",") != e.join {
		t.Errorf("cluster.join = %v, want %s", v, e.join)
	}
	auth := r.hclBlock(t, "auth")
	if auth == nil {
		t.Fatal("no auth block")
	}
	keyFile, hasKeyFile := hclAttr(t, auth, "jwt_public_key_file")
	if hasKeyFile != e.publicKey || (hasKeyFile && keyFile != "/etc/hub/jwt/public.pem") {
		t.Errorf("jwt_public_key_file = %v (set %v), want set %v", keyFile, hasKeyFile, e.publicKey)
	}
	m := r.hclBlock(t, "metrics")
	if e.metricsPort == 0 && m != nil {
		t.Error("metrics block rendered without metrics.port")
	}
	if e.metricsPort != 0 {
		if m == nil {
			t.Fatal("no metrics block")
		}
		if v, _ := hclAttr(t, m, "listen"); v != fmt.Sprintf("0.0.0.0:%d", e.metricsPort) {
			t.Errorf("metrics.listen = %v", v)
		}
	}
	for _, s := range e.secretValues {
		if strings.Contains(r.hcl, s) {
			t.Errorf("a secret value is in the ConfigMap")
		}
		for k, v := range r.configMap.Data {
			if strings.Contains(k+v, s) {
				t.Errorf("a secret value is in the ConfigMap key %s", k)
			}
		}
	}
	for _, key := range []string{"jwt_secret", "api_key", "BEGIN PUBLIC KEY"} {
		if strings.Contains(r.hcl, key) {
			t.Errorf("hub.hcl mentions %q; secrets belong in the Secret", key)
		}
	}

	// PDB selects the hub pods.
	if r.pdb == nil {
		t.Fatal("no PodDisruptionBudget")
	}
	if s, _ := metav1.LabelSelectorAsSelector(r.pdb.Spec.Selector); !s.Matches(labels.Set(pod.Labels)) {
		t.Error("PDB does not select the hub pods")
	}
	if (r.pdb.Spec.MaxUnavailable == nil) == (r.pdb.Spec.MinAvailable == nil) {
		t.Error("PDB must set exactly one of maxUnavailable and minAvailable")
	}
}

func (e expect) secretNameOrChart() string {
	if e.secretName != "" {
		return e.secretName
	}
	return fullname
}

func ptr[T any](v T) *T { return &v }

// ---- the value sets ----

func TestDefaultValues(t *testing.T) {
	r := render(t, valuesFile("default-values.yaml")...)
	checkCommon(t, r, expect{
		replicas: ptr(int32(3)), embedded: true, exposeNATS: false, gossipPort: 7946,
		join: "hub-headless.hubns.svc.cluster.local", antiAffinity: "soft",
	})
	c := r.container(t)
	for _, name := range []string{"HUB_JWT_SECRET", "HUB_API_KEY", "HUB_ADMIN_TOKEN", "HUB_NATS_URL", "HUB_DEV"} {
		if envVar(t, c, name) != nil {
			t.Errorf("env %s set by default", name)
		}
	}
	if mu := r.pdb.Spec.MaxUnavailable; mu == nil || mu.IntValue() != 1 {
		t.Errorf("PDB maxUnavailable = %v, want 1", mu)
	}
	if r.hpa != nil || r.serviceMonitor != nil || r.ingress != nil || r.prometheusRule != nil {
		t.Error("HPA, ServiceMonitor, PrometheusRule and Ingress must be off by default")
	}
	checkClosedCluster(t, r, "hub-cluster", "cluster-secret")
	if c.StartupProbe != nil {
		t.Error("startup probe on by default")
	}
	if got := *r.statefulSet.Spec.Template.Spec.TerminationGracePeriodSeconds; got != 40 {
		t.Errorf("default grace period %d, want 40 (5 preStop + 25 shutdown + 10)", got)
	}
	// 90 % of the default 512Mi limit.
	wantEnvValue(t, c, "GOMEMLIMIT", "483183820")
	if r.dashboard != nil {
		t.Error("Grafana dashboard ConfigMap rendered by default")
	}
	checkTestPod(t, r, "http://hub.hubns.svc.cluster.local:8080", "/ws", nil)
}

func TestExternalNATS(t *testing.T) {
	const url = "nats://nats.nats.svc.cluster.local:4222"
	jwtSecret, apiKey := "test-jwt-secret-do-not-use", "test-api-key-do-not-use"
	r := render(t, valuesFile("external-nats-values.yaml")...)
	checkCommon(t, r, expect{
		replicas: ptr(int32(3)), embedded: false, gossipPort: 7946,
		join:       "hub-headless.hubns.svc.cluster.local",
		secretName: fullname, chartSecret: true,
		secretValues: []string{jwtSecret, apiKey}, antiAffinity: "soft",
	})
	bus := r.hclBlock(t, "connector", "bus")
	if v, _ := hclAttr(t, bus, "url"); v != url {
		t.Errorf("bus url = %v, want %s", v, url)
	}
	if string(r.secret.Data["jwt-secret"]) != jwtSecret || string(r.secret.Data["api-key"]) != apiKey {
		t.Errorf("Secret data = %v", r.secret.Data)
	}
	if _, ok := r.secret.Data["jwt-public.pem"]; ok {
		t.Error("Secret holds an empty public key")
	}
	ws := r.hclBlock(t, "connector", "ws")
	for attr, want := range map[string]float64{
		"max_connections": 10000, "max_frame_bytes": 131072, "max_messages_per_second": 2.5,
		"max_rooms_per_connection": 100, "message_burst": 100, "max_connections_per_ip": 0,
	} {
		if v, _ := hclAttr(t, ws, attr); v != want {
			t.Errorf("ws %s = %v, want %v", attr, v, want)
		}
	}
	node := r.hclBlock(t, "node")
	if v, _ := hclAttr(t, node, "log_level"); v != "debug" {
		t.Errorf("log_level = %v", v)
	}
	if v, _ := hclAttr(t, node, "client_direct"); v != false {
		t.Errorf("client_direct = %v", v)
	}
	// Flows rendered as HCL blocks.
	flows := map[string]map[string]map[string]string{}
	for _, f := range r.hclBlocks("flow") {
		sides := map[string]map[string]string{}
		for _, b := range f.Body.Blocks {
			attrs := map[string]string{}
			for name := range b.Body.Attributes {
				v, _ := hclAttr(t, b, name)
				attrs[name] = v.(string)
			}
			sides[b.Type] = attrs
		}
		flows[f.Labels[0]] = sides
	}
	if got := flows["room_notification"]["to"]; got["operation"] != "send_to_room" || got["target"] != "input.room" || got["connector"] != "ws" {
		t.Errorf("flow room_notification.to = %v", got)
	}
	if got := flows["handle_chat"]["to"]; got["target"] != "chat.messages" || got["connector"] != "bus" {
		t.Errorf("flow handle_chat.to = %v", got)
	}
	if got := flows["live_orders"]["from"]; got["operation"] != "order.updated" || got["connector"] != "bus" {
		t.Errorf("flow live_orders.from = %v", got)
	}
	if len(flows) != 3 {
		t.Errorf("want 3 flows, got %v", flows)
	}
}

func TestExistingSecret(t *testing.T) {
	r := render(t, valuesFile("existing-secret-values.yaml")...)
	checkCommon(t, r, expect{
		replicas: ptr(int32(3)), embedded: false, gossipPort: 7946,
		join:       "hub-headless.hubns.svc.cluster.local",
		secretName: "hub-auth", secretOptional: true, publicKey: true, antiAffinity: "soft",
	})
	c := r.container(t)
	wantEnvSecret(t, c, "HUB_ADMIN_TOKEN", "hub-auth", "admin-token", true)
	wantEnvSecret(t, c, "HUB_NATS_URL", "nats-credentials", "url", false)
	bus := r.hclBlock(t, "connector", "bus")
	if _, ok := hclAttr(t, bus, "url"); ok {
		t.Error("bus url in hub.hcl although it comes from a Secret")
	}
	if v, _ := hclAttr(t, bus, "credentials"); v != "/etc/hub/nats/nats.creds" {
		t.Errorf("bus credentials = %v", v)
	}
	var creds bool
	for _, v := range r.statefulSet.Spec.Template.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			if src.Secret != nil && src.Secret.Name == "nats-credentials" && len(src.Secret.Items) == 1 &&
				src.Secret.Items[0].Key == "hub.creds" && src.Secret.Items[0].Path == "nats/nats.creds" {
				creds = true
			}
		}
	}
	if !creds {
		t.Error("NATS credentials not mounted at /etc/hub/nats/nats.creds")
	}
}

func TestFullFeatures(t *testing.T) {
	apiKey := "test-api-key-do-not-use"
	r := render(t, valuesFile("full-values.yaml")...)
	checkCommon(t, r, expect{
		replicas: nil, embedded: true, exposeNATS: true, gossipPort: 7946,
		join:       "hub-headless.hubns.svc.cluster.local",
		secretName: "", chartSecret: true, publicKey: true,
		secretValues: []string{apiKey, "test-admin-token-do-not-use", "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"},
		metricsPort:  9090, antiAffinity: "soft",
	})
	c := r.container(t)
	wantEnvSecret(t, c, "HUB_API_KEY", fullname, "api-key", false)
	wantEnvSecret(t, c, "HUB_ADMIN_TOKEN", fullname, "admin-token", false)
	if string(r.secret.Data["admin-token"]) != "test-admin-token-do-not-use" {
		t.Errorf("admin token not in the Secret: %v", r.secret.Data)
	}
	if envVar(t, c, "HUB_JWT_SECRET") != nil {
		t.Error("HUB_JWT_SECRET set without a JWT secret")
	}
	if !strings.Contains(string(r.secret.Data["jwt-public.pem"]), "BEGIN PUBLIC KEY") {
		t.Error("public key not in the Secret")
	}
	if c.StartupProbe == nil {
		t.Error("startup probe not rendered")
	}
	if ws := r.hclBlock(t, "connector", "ws"); ws != nil {
		if v, _ := hclAttr(t, ws, "path"); v != "/ws/{tenant}" {
			t.Errorf("ws path = %v", v)
		}
		if v, _ := hclAttr(t, ws, "allowed_origins"); strings.Join(v.([]string), " ") != "https://app.example.com https://*.example.com" {
			t.Errorf("allowed_origins = %v", v)
		}
	}
	if r.hclBlock(t, "flow", "audit") == nil {
		t.Error("extraConfig flow missing from hub.hcl")
	}

	// HPA on the StatefulSet.
	h := r.hpa
	if h == nil {
		t.Fatal("no HPA")
	}
	if h.Spec.ScaleTargetRef.Kind != "StatefulSet" || h.Spec.ScaleTargetRef.Name != fullname || h.Spec.ScaleTargetRef.APIVersion != "apps/v1" {
		t.Errorf("HPA target = %+v", h.Spec.ScaleTargetRef)
	}
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != 3 || h.Spec.MaxReplicas != 12 || len(h.Spec.Metrics) != 2 {
		t.Errorf("HPA spec = %+v", h.Spec)
	}

	// ServiceMonitor scrapes the client service's metrics port.
	sm := r.serviceMonitor
	if sm == nil {
		t.Fatal("no ServiceMonitor")
	}
	if sm.Labels["release"] != "prometheus" {
		t.Errorf("ServiceMonitor labels = %v", sm.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints = %+v", sm.Spec.Endpoints)
	}
	smSel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if !smSel.Matches(labels.Set(r.services[fullname].Labels)) {
		t.Error("ServiceMonitor does not select the client service")
	}
	if smSel.Matches(labels.Set(r.services[headless].Labels)) {
		t.Error("ServiceMonitor also selects the headless service: pods would be scraped twice")
	}

	// Ingress to the client service's http port.
	ing := r.ingress
	if ing == nil {
		t.Fatal("no Ingress")
	}
	if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" || len(ing.Spec.TLS) != 1 {
		t.Errorf("Ingress spec = %+v", ing.Spec)
	}
	var paths []string
	for _, rule := range ing.Spec.Rules {
		for _, p := range rule.HTTP.Paths {
			paths = append(paths, p.Path)
			if p.Backend.Service == nil || p.Backend.Service.Name != fullname || p.Backend.Service.Port.Name != "http" {
				t.Errorf("Ingress path %s backend = %+v", p.Path, p.Backend)
			}
		}
	}
	if strings.Join(paths, " ") != "/ws /api" {
		t.Errorf("Ingress paths = %v", paths)
	}
	if ing.Annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] != "3600" {
		t.Error("Ingress annotations not passed through")
	}
	// PrometheusRule: default alerts plus the extra rule, with the rule labels.
	pr := r.prometheusRule
	if pr == nil || len(pr.Spec.Groups) != 1 {
		t.Fatal("no PrometheusRule with one group")
	}
	alerts := map[string]monitoringv1.Rule{}
	for _, rule := range pr.Spec.Groups[0].Rules {
		alerts[rule.Alert] = rule
	}
	for _, name := range []string{"HubNodeDown", "HubNATSDisconnected", "HubClusterPartitioned", "HubDeliveriesDropped", "HubTooManyConnections"} {
		if _, ok := alerts[name]; !ok {
			t.Errorf("alert %s missing", name)
		}
	}
	if a := alerts["HubNATSDisconnected"]; a.Labels["team"] != "realtime" || !strings.Contains(a.Expr.String(), `namespace="hubns"`) {
		t.Errorf("HubNATSDisconnected = %+v", a)
	}
	if a := alerts["HubNodeDown"]; a.Annotations["summary"] != "Hub node {{ $labels.pod }} cannot be scraped" {
		t.Errorf("alert templates not kept for Prometheus: %q", a.Annotations["summary"])
	}

	// NetworkPolicy: gossip and routes only from hub pods, HTTP from the ingress namespace.
	np := r.networkPolicy
	if np == nil {
		t.Fatal("no NetworkPolicy")
	}
	pod := r.statefulSet.Spec.Template.Spec
	if s, _ := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector); !s.Matches(labels.Set(r.statefulSet.Spec.Template.Labels)) {
		t.Error("NetworkPolicy does not select the hub pods")
	}
	byPort := map[string][]networkingv1.NetworkPolicyPeer{}
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			if containerPort(c, p.Port.String()) == nil {
				t.Errorf("NetworkPolicy port %s is no container port", p.Port.String())
			}
			byPort[p.Port.String()] = rule.From
		}
	}
	for _, port := range []string{"gossip", "gossip-udp", "nats-route"} {
		from := byPort[port]
		if len(from) != 1 || from[0].PodSelector == nil || from[0].NamespaceSelector != nil {
			t.Errorf("%s must be open to hub pods only: %+v", port, from)
			continue
		}
		if s, _ := metav1.LabelSelectorAsSelector(from[0].PodSelector); !s.Matches(labels.Set(r.statefulSet.Spec.Template.Labels)) {
			t.Errorf("%s peer does not select the hub pods", port)
		}
	}
	if from := byPort["http"]; len(from) != 1 || from[0].NamespaceSelector == nil {
		t.Errorf("http peers = %+v", from)
	}
	if _, ok := byPort["nats"]; !ok {
		t.Error("embedded NATS client port not in the NetworkPolicy")
	}
	if _, ok := byPort["metrics"]; !ok {
		t.Error("metrics port not in the NetworkPolicy")
	}
	if len(pod.TopologySpreadConstraints) != 1 || pod.TopologySpreadConstraints[0].LabelSelector == nil {
		t.Errorf("topology spread constraint without a default label selector: %+v", pod.TopologySpreadConstraints)
	}
	if len(pod.Tolerations) != 1 || pod.NodeSelector["kubernetes.io/os"] != "linux" {
		t.Error("tolerations / nodeSelector not passed through")
	}
	if r.statefulSet.Spec.Template.Annotations["example.com/team"] != "realtime" {
		t.Error("podAnnotations not passed through")
	}
}

func TestFiveReplicas(t *testing.T) {
	r := render(t, valuesFile("replicas5-values.yaml")...)
	checkCommon(t, r, expect{
		replicas: ptr(int32(5)), embedded: true, exposeNATS: false, gossipPort: 7947,
		join:         "hub-headless.hubns.svc.cluster.local:7947,hub-other-headless.other.svc.cluster.local:7946",
		antiAffinity: "hard",
	})
	if ma := r.pdb.Spec.MinAvailable; ma == nil || ma.IntValue() != 3 || r.pdb.Spec.MaxUnavailable != nil {
		t.Errorf("PDB = %+v, want minAvailable 3 only", r.pdb.Spec)
	}
	if got := *r.statefulSet.Spec.Template.Spec.TerminationGracePeriodSeconds; got != 60 {
		t.Errorf("grace period %d, want 60", got)
	}
	cs := r.services[fullname]
	if cs.Spec.Type != corev1.ServiceTypeLoadBalancer || cs.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		t.Errorf("client service = %s/%s", cs.Spec.Type, cs.Spec.ExternalTrafficPolicy)
	}
}

// Values with HCL template sequences stay literal in hub.hcl.
func TestHCLEscaping(t *testing.T) {
	t.Setenv("HUB_BIN", "off") // these origins are nonsense to the hub; only the quoting is tested
	r := render(t, "--set-json", `websocket.allowedOrigins=["https://${x}.example.com","%{ if true }y\"z\\"]`)
	ws := r.hclBlock(t, "connector", "ws")
	v, _ := hclAttr(t, ws, "allowed_origins")
	got := v.([]string)
	if len(got) != 2 || got[0] != "https://${x}.example.com" || got[1] != `%{ if true }y"z\` {
		t.Errorf("allowed_origins = %q", got)
	}
}

// Mistakes fail at render time with a message that says what is wrong.
func TestRejectedValues(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"typo at top level", []string{"--set", "replicaCont=3"}, "replicaCont"},
		{"typo nested", []string{"--set", "nats.externall.url=nats://x:4222"}, "externall"},
		{"bad enum", []string{"--set", "hub.logLevel=verbose"}, "logLevel"},
		{"bad type", []string{"--set", "websocket.pingInterval=30"}, "pingInterval"},
		{"bad duration", []string{"--set", "websocket.pongTimeout=10 seconds"}, "pongTimeout"},
		{"zero replicas", []string{"--set", "replicaCount=0"}, "replicaCount"},
		{"port out of range", []string{"--set", "websocket.port=70000"}, "port"},
		{"anti-affinity enum", []string{"--set", "podAntiAffinity=sometimes"}, "podAntiAffinity"},
		{"flow without to", []string{"--set", "flows.x.from.connector=bus"}, "to"},
		{"credentials in URL", []string{"--set", "nats.external.url=nats://user:pw@nats:4222"}, "urlSecret"},
		{"url and urlSecret", []string{"--set", "nats.external.url=nats://nats:4222", "--set", "nats.external.urlSecret.name=s", "--set", "nats.external.urlSecret.key=k"}, "not both"},
		{"urlSecret without key", []string{"--set", "nats.external.urlSecret.name=s"}, "urlSecret.key"},
		{"grace too short", []string{"--set", "terminationGracePeriodSeconds=20"}, "terminationGracePeriodSeconds"},
		{"credentials with embedded NATS", []string{"--set", "nats.external.credentialsSecret.name=s", "--set", "nats.external.credentialsSecret.key=k"}, "external NATS"},
		{"negative rate", []string{"--set", "websocket.maxMessagesPerSecond=-1"}, "maxMessagesPerSecond"},
		{"metrics on ws port", []string{"--set", "metrics.port=8080"}, "metrics.port"},
		{"hpa min over max", []string{"--set", "autoscaling.enabled=true", "--set", "autoscaling.minReplicas=5", "--set", "autoscaling.maxReplicas=3"}, "minReplicas"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := helmTemplate(t, tc.args...)
			if err == nil {
				t.Fatalf("helm template %v succeeded, want an error mentioning %q", tc.args, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error does not mention %q:\n%v", tc.want, err)
			}
		})
	}
}

// checkTestPod checks the helm test hook: the hub image running `hub check`
// against the client Service, with the secrets it needs by reference.
func checkTestPod(t *testing.T, r *rendered, wantURL, wantPath string, env map[string][2]string) {
	t.Helper()
	p := r.testPod
	if p == nil {
		t.Fatal("no helm test pod")
	}
	if p.Annotations["helm.sh/hook"] != "test" || p.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("test pod: hook %q restartPolicy %q", p.Annotations["helm.sh/hook"], p.Spec.RestartPolicy)
	}
	if len(p.Spec.Containers) != 1 {
		t.Fatalf("test pod has %d containers", len(p.Spec.Containers))
	}
	c := p.Spec.Containers[0]
	if c.Image != r.container(t).Image {
		t.Errorf("test pod image %q, want the hub's %q", c.Image, r.container(t).Image)
	}
	want := []string{"check", "-url", wantURL, "-path", wantPath, "-timeout", "60s"}
	if strings.Join(c.Args, " ") != strings.Join(want, " ") {
		t.Errorf("test pod args %q, want %q", c.Args, want)
	}
	if len(c.Env) != len(env) {
		t.Errorf("test pod env %+v, want %v", c.Env, env)
	}
	for name, ref := range env {
		wantEnvSecret(t, &c, name, ref[0], ref[1], ref[0] == "hub-auth")
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("test pod container without the read-only securityContext")
	}
	// Nothing that selects hub pods selects the test pod.
	podLabels := labels.Set(p.Labels)
	if sel, _ := metav1.LabelSelectorAsSelector(r.statefulSet.Spec.Selector); sel.Matches(podLabels) {
		t.Error("the StatefulSet's selector matches the test pod")
	}
	for _, svc := range r.services {
		if labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
			t.Errorf("service %s selects the test pod", svc.Name)
		}
	}
	if r.pdb != nil {
		if sel, _ := metav1.LabelSelectorAsSelector(r.pdb.Spec.Selector); sel.Matches(podLabels) {
			t.Error("the PodDisruptionBudget counts the test pod")
		}
	}
	if p.Labels["app.kubernetes.io/instance"] != release {
		t.Errorf("test pod labels %v", p.Labels)
	}
}

func TestHelmTestPod(t *testing.T) {
	r := render(t, valuesFile("external-nats-values.yaml")...)
	checkTestPod(t, r, "http://hub.hubns.svc.cluster.local:8080", "/ws", map[string][2]string{
		"HUB_JWT_SECRET": {fullname, "jwt-secret"}, "HUB_API_KEY": {fullname, "api-key"},
	})
	r = render(t, valuesFile("existing-secret-values.yaml")...)
	checkTestPod(t, r, "http://hub.hubns.svc.cluster.local:8080", "/ws", map[string][2]string{
		"HUB_JWT_SECRET": {"hub-auth", "jwt-secret"}, "HUB_API_KEY": {"hub-auth", "api-key"},
	})
	r = render(t, valuesFile("full-values.yaml")...)
	checkTestPod(t, r, "http://hub.hubns.svc.cluster.local:8080", "/ws/check", map[string][2]string{
		"HUB_API_KEY": {fullname, "api-key"}, "HUB_CHECK_TOKEN": {"hub-check-token", "token"},
	})
	r = render(t, "--set", "tests.enabled=false")
	if r.testPod != nil {
		t.Error("test pod rendered with tests.enabled=false")
	}
}

// The Grafana dashboard ConfigMap carries deploy/grafana/hub.json byte for
// byte, with the sidecar's label.
func TestGrafanaDashboard(t *testing.T) {
	r := render(t, valuesFile("full-values.yaml")...)
	d := r.dashboard
	if d == nil {
		t.Fatal("no dashboard ConfigMap with grafana.dashboard.enabled")
	}
	if d.Labels["grafana_dashboard"] != "1" || d.Namespace != "monitoring" || d.Annotations["grafana_folder"] != "Realtime" {
		t.Errorf("dashboard ConfigMap meta: labels %v namespace %q annotations %v", d.Labels, d.Namespace, d.Annotations)
	}
	want, err := os.ReadFile("../../grafana/hub.json")
	if err != nil {
		t.Fatal(err)
	}
	got := d.Data["hub.json"]
	if strings.TrimSpace(got) != strings.TrimSpace(string(want)) {
		t.Errorf("dashboard ConfigMap differs from deploy/grafana/hub.json (%d vs %d bytes)", len(got), len(want))
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(got), &v); err != nil || v["uid"] != "hub-overview" {
		t.Errorf("dashboard JSON: %v, uid %v", err, v["uid"])
	}
}

// GOMEMLIMIT is 90 % of limits.memory whatever unit it is written in, and
// unset without a limit.
func TestGoMemLimit(t *testing.T) {
	t.Setenv("HUB_BIN", "off")
	cases := []struct{ limit, want string }{
		{"512Mi", "483183820"},
		{"1Gi", "966367641"},
		{"1.5Gi", "1449551462"},
		{"500M", "450000000"},
		{"268435456", "241591910"},
		{"2e9", "1800000000"},
	}
	for _, tc := range cases {
		r := render(t, "--set", "resources.limits.memory="+tc.limit)
		wantEnvValue(t, r.container(t), "GOMEMLIMIT", tc.want)
	}
	r := render(t, "--set", "resources.limits=null")
	if envVar(t, r.container(t), "GOMEMLIMIT") != nil {
		t.Error("GOMEMLIMIT set without a memory limit")
	}
	if _, err := helmTemplate(t, "--set", "resources.limits.memory=lots"); err == nil || !strings.Contains(err.Error(), "not a memory quantity") {
		t.Errorf("a bad memory limit renders: %v", err)
	}
}

// Chart.yaml's kubeVersion refuses clusters without the native preStop sleep.
func TestKubeVersion(t *testing.T) {
	_, err := helmTemplate(t, "--kube-version", "1.29.9")
	if err == nil || !strings.Contains(err.Error(), "kubeVersion") {
		t.Fatalf("helm template --kube-version 1.29.9 = %v, want a kubeVersion refusal", err)
	}
	for _, v := range []string{"1.30.0", "v1.33.2-eks-1234"} {
		out, err := helmTemplate(t, "--kube-version", v)
		if err != nil {
			t.Fatalf("helm template --kube-version %s: %v", v, err)
		}
		if !strings.Contains(out, "sleep:") {
			t.Errorf("--kube-version %s: no native preStop sleep", v)
		}
	}
}

// The default image is exactly what `make image` builds.
func TestImageIsWhatMakeImageBuilds(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	out, err := exec.Command("make", "-s", "-C", "../../..", "image-tag").Output()
	if err != nil {
		t.Fatalf("make image-tag: %v", err)
	}
	r := render(t)
	if got, want := r.container(t).Image, strings.TrimSpace(string(out)); got != want {
		t.Errorf("chart image %q, make image builds %q", got, want)
	}
}

// checkClosedCluster: the cluster secret is generated (or taken from
// secretName), mounted and named in hub.hcl; the embedded NATS backend user
// comes from the same Secret; the NetworkPolicy keeps gossip and routes
// between hub pods.
func checkClosedCluster(t *testing.T, r *rendered, secretName, key string) {
	t.Helper()
	generated := secretName == "hub-cluster"
	if generated {
		if r.clusterSecret == nil || r.clusterSecret.Name != secretName {
			t.Fatalf("cluster Secret %s not rendered", secretName)
		}
		if v := r.clusterSecret.Data[key]; len(v) < 32 {
			t.Errorf("generated cluster secret is %d bytes, want >= 32", len(v))
		}
		if v := r.clusterSecret.Data["nats-backend-password"]; len(v) < 24 {
			t.Errorf("generated NATS backend password is %d bytes", len(v))
		}
	} else if r.clusterSecret != nil {
		t.Errorf("cluster Secret %s rendered although an existing one is named", r.clusterSecret.Name)
	}
	if !strings.Contains(r.hcl, `secret_file     = "/etc/hub/cluster/secret"`) || strings.Contains(r.hcl, "insecure") {
		t.Errorf("hub.hcl does not read the mounted cluster secret:\n%s", r.hcl)
	}
	found := false
	for _, v := range r.statefulSet.Spec.Template.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			if src.Secret != nil && src.Secret.Name == secretName {
				for _, it := range src.Secret.Items {
					found = found || (it.Key == key && it.Path == "cluster/secret")
				}
			}
		}
	}
	if !found {
		t.Errorf("cluster secret %s/%s not mounted as /etc/hub/cluster/secret", secretName, key)
	}
	c := r.container(t)
	wantEnvSecret(t, c, "NATS_BACKEND_PASSWORD", secretName, "nats-backend-password", false)
	wantEnvValue(t, c, "HUB_NATS_USERS", "backend:$(NATS_BACKEND_PASSWORD)")
	np := r.networkPolicy
	if np == nil {
		t.Fatal("NetworkPolicy off by default")
	}
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			if p.Port.String() == "gossip" || p.Port.String() == "nats-route" {
				if len(rule.From) != 1 || rule.From[0].PodSelector == nil || len(rule.From[0].PodSelector.MatchLabels) == 0 {
					t.Errorf("port %s open beyond the hub pods: %+v", p.Port.String(), rule.From)
				}
			}
		}
	}
}

// The cluster secret from an existing Secret, and the explicit insecure mode.
func TestClusterSecret(t *testing.T) {
	r := render(t, append(valuesFile("default-values.yaml"), "--set", "cluster.secret.existingSecret=my-cluster", "--set", "cluster.secret.key=key")...)
	checkClosedCluster(t, r, "my-cluster", "key")

	r = render(t, append(valuesFile("default-values.yaml"), "--set", "cluster.insecure=true")...)
	if !strings.Contains(r.hcl, "insecure        = true") || strings.Contains(r.hcl, "secret_file") {
		t.Errorf("insecure hub.hcl:\n%s", r.hcl)
	}
	for _, v := range r.statefulSet.Spec.Template.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			if src.Secret != nil {
				for _, it := range src.Secret.Items {
					if it.Path == "cluster/secret" {
						t.Error("insecure mode mounts a cluster secret")
					}
				}
			}
		}
	}
}
