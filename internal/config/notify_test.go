package config

import (
	"slices"
	"testing"
)

// webhook is a webhook URL whose path is the secret it embeds.
const webhook = "https://hooks.example.com/services/T000/B000/hook-S3CRET-51ab"

func TestNotifyIsOffByDefault(t *testing.T) {
	c := validConfig(t)
	if c.Notify.WebhookURL != "" || c.Notify.Timeout.D() <= 0 {
		t.Errorf("got %+v, want no webhook and a timeout", c.Notify)
	}
}

func TestNotifyWebhookURLRule(t *testing.T) {
	for _, tc := range []struct {
		name, url, problem string
	}{
		{"https", webhook, ""},
		{"http to loopback", "http://127.0.0.1:8080/hook-S3CRET-51ab", ""},
		{"http to localhost", "http://localhost/hook-S3CRET-51ab", ""},
		{"http elsewhere", "http://hooks.example.com/hook-S3CRET-51ab", "must be https unless the host is loopback"},
		{"another scheme", "ftp://hooks.example.com/hook-S3CRET-51ab", "scheme must be https"},
		{"not absolute", "hooks.example.com/hook-S3CRET-51ab", "must be an absolute URL such as https://hooks.example.com/services/…"},
		{"credentials", "https://user:hook-S3CRET-51ab@hooks.example.com/x", "must not hold credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig(t)
			c.Notify.WebhookURL = Secret(tc.url)
			err := c.Validate()
			if tc.problem == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			wantProblem(t, err, "notify.webhookURL", tc.problem)
			noLeak(t, "error", err.Error(), "hook-S3CRET-51ab")
		})
	}
}

func TestNotifyTimeoutMustBePositive(t *testing.T) {
	c := validConfig(t)
	c.Notify.Timeout = 0
	wantFields(t, c.Validate(), "notify.timeout")
}

func TestNotifyWebhookFromFileOrCredential(t *testing.T) {
	creds := t.TempDir()
	writeFile(t, creds, "hook", webhook+"\n")
	writeFile(t, creds, CredentialNotifyWebhook, webhook+"/from-credential\n")
	withCreds := env(map[string]string{"CREDENTIALS_DIRECTORY": creds})
	for _, tc := range []struct {
		name, data string
		getenv     func(string) string
		want       string
	}{
		{"file relative to CREDENTIALS_DIRECTORY", doc("", "", "notify:\n  webhookURLFile: hook\n"), withCreds, webhook},
		{"default credential", doc("", "", ""), withCreds, webhook + "/from-credential"},
		{"inline beats the credential", doc("", "", "notify:\n  webhookURL: https://127.0.0.1/inline\n"), withCreds, "https://127.0.0.1/inline"},
		{"nothing: off", doc("", "", ""), nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadFile(t, tc.data, tc.getenv)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := c.Notify.WebhookURL.Reveal(); got != tc.want {
				t.Errorf("webhook %q, want %q", got, tc.want)
			}
			if c.Notify.WebhookURLFile != "" {
				t.Errorf("file field left set: %q", c.Notify.WebhookURLFile)
			}
		})
	}
}

func TestNotifyWebhookProblemsDoNotEchoIt(t *testing.T) {
	creds := t.TempDir()
	writeFile(t, creds, "plain", "http://hooks.example.com/hook-S3CRET-51ab\n")
	getenv := env(map[string]string{"CREDENTIALS_DIRECTORY": creds, "HOOK": webhook})
	for _, tc := range []struct{ name, data, field string }{
		{"set twice", doc("", "", "notify:\n  webhookURL: "+webhook+"\n  webhookURLFile: hook\n"), "notify.webhookURLFile"},
		{"file of a plain http URL", doc("", "", "notify:\n  webhookURLFile: plain\n"), "notify.webhookURL"},
		{"missing file", doc("", "", "notify:\n  webhookURLFile: missing\n"), "notify.webhookURLFile"},
		{"from the environment, in the wrong place", doc("", "", "http:\n  listen: ${HOOK}\n"), "http.listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadFile(t, tc.data, getenv)
			wantFields(t, err, tc.field)
			noLeak(t, "error", err.Error(), "hook-S3CRET-51ab", "T000/B000")
		})
	}
}

func TestSecretValues(t *testing.T) {
	c := validConfig(t)
	c.LDAP.BindPassword = "bind-pw-1234"
	c.SCIM.Tokens = []Secret{"second-token"}
	c.State.DatabaseURL = "postgres://syncd:db-pw-5678@localhost/syncd"
	c.Notify.WebhookURL = webhook
	got := c.SecretValues()
	for _, want := range []string{"t0k3n-minimal", "second-token", "bind-pw-1234", "db-pw-5678", string(c.State.DatabaseURL), webhook} {
		if !slices.Contains(got, want) {
			t.Errorf("SecretValues lacks %q", want)
		}
	}
	c.State.DatabaseURL = "host=localhost password=dsn-pw-9012"
	if got := c.SecretValues(); !slices.Contains(got, "dsn-pw-9012") {
		t.Errorf("SecretValues lacks the DSN's password: %d values", len(got))
	}
}
