package deploy_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/syncd-dev/syncd/internal/config"
)

// object is the part of a Kubernetes object these tests read.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		Replicas *int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
	file string
}

type podSpec struct {
	TerminationGracePeriodSeconds *int `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot *bool `yaml:"runAsNonRoot"`
		RunAsUser    *int  `yaml:"runAsUser"`
		FSGroup      *int  `yaml:"fsGroup"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name  string `yaml:"name"`
			Items []struct {
				Key  string `yaml:"key"`
				Path string `yaml:"path"`
			} `yaml:"items"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName  string `yaml:"secretName"`
			DefaultMode *int   `yaml:"defaultMode"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Ports   []struct {
		ContainerPort int `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe   *probe `yaml:"livenessProbe"`
	ReadinessProbe  *probe `yaml:"readinessProbe"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

// manifests parses every document of every file in deploy/kubernetes.
func manifests(t *testing.T) []object {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/kubernetes (%v)", err)
	}
	var objs []object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var o object
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			o.file = filepath.Base(f)
			if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
				t.Errorf("%s: a document without apiVersion, kind or metadata.name", f)
			}
			objs = append(objs, o)
		}
	}
	return objs
}

// only returns the one object of a kind (and name, when given).
func only(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	var found []object
	for _, o := range objs {
		if o.Kind == kind && (name == "" || o.Metadata.Name == name) {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s %q manifests, want 1", len(found), kind, name)
	}
	return found[0]
}

// configMapConfig is the configuration in the ConfigMap, parsed and
// validated as syncd does (without reading the secret files).
func configMapConfig(t *testing.T) *config.Config {
	t.Helper()
	cm := only(t, manifests(t), "ConfigMap", "")
	data, ok := cm.Data[path.Base(configPath)]
	if !ok {
		t.Fatalf("ConfigMap %s has no %s", cm.Metadata.Name, path.Base(configPath))
	}
	cfg, err := config.Parse([]byte(data), nil)
	if err != nil {
		t.Fatalf("ConfigMap %s: %v", cm.Metadata.Name, err)
	}
	return cfg
}

func TestKubernetesManifests(t *testing.T) {
	objs := manifests(t)
	cfg := configMapConfig(t)
	cm := only(t, objs, "ConfigMap", "")
	secret := only(t, objs, "Secret", "")

	_, portText, err := net.SplitHostPort(cfg.HTTP.Listen)
	if err != nil {
		t.Fatalf("http.listen %q: %v (the probes need it)", cfg.HTTP.Listen, err)
	}
	port, _ := strconv.Atoi(portText)

	t.Run("Secret", func(t *testing.T) {
		// The keys are syncd's credential names, so one set of names serves
		// systemd and Kubernetes.
		want := []string{config.CredentialBindPassword, config.CredentialDatabaseURL, config.CredentialSCIMToken}
		var keys []string
		for k, v := range secret.StringData {
			keys = append(keys, k)
			if !strings.Contains(v, "REPLACE_WITH") {
				t.Errorf("Secret key %s: %q is not a REPLACE_WITH placeholder", k, v)
			}
		}
		if len(secret.Data) > 0 {
			t.Error("Secret has data:; the template holds only stringData placeholders")
		}
		slices.Sort(keys)
		if slices.Sort(want); !slices.Equal(keys, want) {
			t.Errorf("Secret keys %v, want %v", keys, want)
		}
		files := map[string]string{
			"ldap.bindPasswordFile": cfg.LDAP.BindPasswordFile,
			"scim.tokenFile":        cfg.SCIM.TokenFile,
			"state.databaseURLFile": cfg.State.DatabaseURLFile,
		}
		for i, f := range cfg.SCIM.TokenFiles {
			files["scim.tokenFiles["+strconv.Itoa(i)+"]"] = f
		}
		for field, f := range files {
			if path.Dir(f) != secretsDir || !slices.Contains(keys, path.Base(f)) {
				t.Errorf("%s: %q, want %s/ and one of the Secret's keys %v", field, f, secretsDir, keys)
			}
		}
	})

	deployment := only(t, objs, "Deployment", "syncd")
	t.Run("Deployment", func(t *testing.T) {
		if r := deployment.Spec.Replicas; r == nil || *r != 2 {
			t.Errorf("replicas %v, want 2", r)
		}
		for k, v := range deployment.Spec.Selector.MatchLabels {
			if deployment.Spec.Template.Metadata.Labels[k] != v {
				t.Errorf("selector %s=%s does not match the pod template's labels", k, v)
			}
		}
		checkSyncdPod(t, deployment, cm, secret, cfg, port, true)
	})
	t.Run("sidecar", func(t *testing.T) {
		sidecar := only(t, objs, "Deployment", "example-app")
		if n := len(sidecar.Spec.Template.Spec.Containers); n < 2 {
			t.Errorf("%d containers: the example puts syncd beside an application", n)
		}
		checkSyncdPod(t, sidecar, cm, secret, cfg, port, false)
	})
	t.Run("image", func(t *testing.T) {
		images := map[string]bool{}
		for _, o := range objs {
			for _, c := range o.Spec.Template.Spec.Containers {
				if c.Name == "syncd" {
					images[c.Image] = true
				}
			}
		}
		if len(images) != 1 {
			t.Errorf("syncd images %v: use one", images)
		}
		for img := range images {
			repo, tag, ok := strings.Cut(path.Base(img), ":")
			if repo != "syncd" || !ok || tag == "" || tag == "latest" {
				t.Errorf("image %q: want …/syncd:<version>, a pinned tag", img)
			}
		}
	})
}

// checkSyncdPod checks the syncd container of a pod template and the
// volumes it mounts against the ConfigMap, the Secret and the configuration.
func checkSyncdPod(t *testing.T, o object, cm, secret object, cfg *config.Config, port int, readiness bool) {
	t.Helper()
	spec := o.Spec.Template.Spec
	i := slices.IndexFunc(spec.Containers, func(c container) bool { return c.Name == "syncd" })
	if i < 0 {
		t.Fatalf("%s: no container named syncd", o.file)
	}
	c := spec.Containers[i]

	if len(c.Command) > 0 {
		t.Errorf("command %v: the image's entrypoint is syncd", c.Command)
	}
	if want := dockerfileCmd(t); !slices.Equal(c.Args, want) {
		t.Errorf("args %v, want %v", c.Args, want)
	}
	if !slices.ContainsFunc(c.Ports, func(p struct {
		ContainerPort int `yaml:"containerPort"`
	}) bool {
		return p.ContainerPort == port
	}) {
		t.Errorf("no containerPort %d (http.listen %s)", port, cfg.HTTP.Listen)
	}
	checkProbe(t, "livenessProbe", c.LivenessProbe, "/healthz", port)
	if readiness {
		checkProbe(t, "readinessProbe", c.ReadinessProbe, "/readyz", port)
	} else if c.ReadinessProbe != nil {
		t.Error("readinessProbe on a sidecar: syncd's database would decide whether the application is ready")
	}

	sc, psc := c.SecurityContext, spec.SecurityContext
	if p := sc.AllowPrivilegeEscalation; p == nil || *p {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if r := sc.ReadOnlyRootFilesystem; r == nil || !*r {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if (sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot) && (psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot) {
		t.Error("runAsNonRoot is not true")
	}
	if !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Error("capabilities.drop does not hold ALL")
	}
	if u := psc.RunAsUser; u == nil || *u != dockerfileUser(t) {
		t.Errorf("runAsUser %v, want the image's USER %d (runAsNonRoot needs a numeric user)", u, dockerfileUser(t))
	}
	for _, r := range []string{"cpu", "memory"} {
		if c.Resources.Requests[r] == "" || c.Resources.Limits[r] == "" {
			t.Errorf("resources: %s request or limit missing", r)
		}
	}
	if g := spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= cfg.SCIM.Timeout.D() {
		t.Errorf("terminationGracePeriodSeconds %v, want above scim.timeout %s", g, cfg.SCIM.Timeout)
	}

	mounts := map[string]string{} // volume name → mount path
	for _, m := range c.VolumeMounts {
		if m.SubPath != "" {
			t.Errorf("volumeMount %s uses subPath: edits to it would never reach the pod", m.Name)
		}
		if !m.ReadOnly {
			t.Errorf("volumeMount %s is not readOnly", m.Name)
		}
		mounts[m.Name] = m.MountPath
	}
	var sawConfig, sawSecret bool
	for _, v := range spec.Volumes {
		switch {
		case v.ConfigMap != nil && v.ConfigMap.Name == cm.Metadata.Name:
			sawConfig = true
			file := path.Base(configPath)
			if len(v.ConfigMap.Items) > 0 && !slices.ContainsFunc(v.ConfigMap.Items, func(it struct {
				Key  string `yaml:"key"`
				Path string `yaml:"path"`
			}) bool {
				return it.Key == file && it.Path == file
			}) {
				t.Errorf("volume %s does not put key %s at %s", v.Name, file, file)
			}
			if got := mounts[v.Name]; got != path.Dir(configPath) {
				t.Errorf("ConfigMap volume %s mounted at %q, want %s (syncd reads %s)", v.Name, got, path.Dir(configPath), configPath)
			}
		case v.Secret != nil && v.Secret.SecretName == secret.Metadata.Name:
			sawSecret = true
			if got := mounts[v.Name]; got != secretsDir {
				t.Errorf("Secret volume %s mounted at %q, want %s", v.Name, got, secretsDir)
			}
			// The files belong to root and fsGroup: the group must read them.
			if m := v.Secret.DefaultMode; psc.FSGroup == nil || m == nil || *m&0o040 == 0 || *m&0o007 != 0 {
				t.Errorf("Secret volume %s: defaultMode %v with fsGroup %v: want group-readable, not world-readable, with fsGroup set", v.Name, m, psc.FSGroup)
			}
		}
	}
	if !sawConfig || !sawSecret {
		t.Errorf("volumes: ConfigMap %s found %v, Secret %s found %v", cm.Metadata.Name, sawConfig, secret.Metadata.Name, sawSecret)
	}
}

func checkProbe(t *testing.T, name string, p *probe, wantPath string, port int) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s: no httpGet probe", name)
		return
	}
	if p.HTTPGet.Path != wantPath {
		t.Errorf("%s: path %q, want %s", name, p.HTTPGet.Path, wantPath)
	}
	if p.HTTPGet.Port != port {
		t.Errorf("%s: port %v, want %d (http.listen)", name, p.HTTPGet.Port, port)
	}
}
