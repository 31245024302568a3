package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Names of the systemd credentials (LoadCredential=) read when the file gives
// neither a secret nor a file for it.
const (
	CredentialBindPassword = "ldap-bind-password"
	CredentialSCIMToken    = "scim-token"
	// More API keys: scim-token-2, scim-token-3, … read in order until one
	// is missing, when the file lists none itself.
	CredentialSCIMTokenN  = "scim-token-%d"
	CredentialDatabaseURL = "database-url"
	// The webhook URL of notify.webhookURL.
	CredentialNotifyWebhook = "notify-webhook"
)

// maxSecretFile bounds a secret file; a larger one is almost certainly the
// wrong file, and reading it whole would be a waste.
const maxSecretFile = 64 << 10

// resolveSecrets fills each secret given as a file, and each secret given not
// at all from the systemd credential of its name when one exists. A relative
// file name resolves against credDir ($CREDENTIALS_DIRECTORY) when set, else
// against the working directory. A file read successfully clears its *File
// field, so the result holds values only and validates as such.
func (c *Config) resolveSecrets(credDir string, ps *problems) {
	type secret struct {
		field, fileField, credential string
		value                        *Secret
		file                         *string
		wanted                       bool
	}
	for _, s := range []secret{
		{"ldap.bindPassword", "ldap.bindPasswordFile", CredentialBindPassword, &c.LDAP.BindPassword, &c.LDAP.BindPasswordFile, c.LDAP.BindDN != ""},
		{"scim.token", "scim.tokenFile", CredentialSCIMToken, &c.SCIM.Token, &c.SCIM.TokenFile, true},
		{"state.databaseURL", "state.databaseURLFile", CredentialDatabaseURL, &c.State.DatabaseURL, &c.State.DatabaseURLFile, true},
		{"notify.webhookURL", "notify.webhookURLFile", CredentialNotifyWebhook, &c.Notify.WebhookURL, &c.Notify.WebhookURLFile, true},
	} {
		switch {
		case *s.file != "" && *s.value == "":
			name := *s.file
			if credDir != "" && !filepath.IsAbs(name) {
				name = filepath.Join(credDir, name)
			}
			v, err := readSecret(name)
			if err != nil {
				ps.Add(s.fileField, "%v", err)
				continue
			}
			*s.value, *s.file = v, ""
		case *s.file == "" && *s.value == "" && s.wanted && credDir != "":
			v, err := readSecret(filepath.Join(credDir, s.credential))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				ps.Add(s.field, "credential %s: %v", s.credential, err)
				continue
			}
			*s.value = v
		}
	}
	c.resolveTokens(credDir, ps)
}

// resolveTokens reads scim.tokenFiles into scim.tokens, or, when the file
// lists no more keys, the credentials scim-token-2, scim-token-3, … in order
// until one is missing.
func (c *Config) resolveTokens(credDir string, ps *problems) {
	s := &c.SCIM
	if len(s.TokenFiles) > 0 {
		var failed bool
		for i, name := range s.TokenFiles {
			if credDir != "" && !filepath.IsAbs(name) {
				name = filepath.Join(credDir, name)
			}
			v, err := readSecret(name)
			if err != nil {
				ps.Add(fmt.Sprintf("scim.tokenFiles[%d]", i), "%v", err)
				failed = true
				continue
			}
			s.Tokens = append(s.Tokens, v)
		}
		if !failed {
			s.TokenFiles = nil
		}
		return
	}
	if len(s.Tokens) > 0 || credDir == "" {
		return
	}
	for n := 2; ; n++ {
		cred := fmt.Sprintf(CredentialSCIMTokenN, n)
		v, err := readSecret(filepath.Join(credDir, cred))
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err != nil {
			ps.Add("scim.tokens", "credential %s: %v", cred, err)
			return
		}
		s.Tokens = append(s.Tokens, v)
	}
}

// readSecret reads a secret file, dropping the trailing newline that editors
// and `echo` add. Errors name the file, never its content.
func readSecret(name string) (Secret, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("read secret file %s: %w", name, err)
	}
	if len(data) > maxSecretFile {
		return "", fmt.Errorf("secret file %s is larger than %d KiB", name, maxSecretFile>>10)
	}
	v := strings.TrimRight(string(data), "\r\n")
	if v == "" {
		return "", fmt.Errorf("secret file %s is empty", name)
	}
	return Secret(v), nil
}

// SecretValues returns every secret value the configuration holds (the API
// keys, the bind password, the database URL and the password inside it,
// the webhook URL), for scrubbing from text that leaves the process.
func (c *Config) SecretValues() []string {
	out := c.SCIM.Keys()
	for _, s := range []Secret{c.LDAP.BindPassword, c.State.DatabaseURL, c.Notify.WebhookURL} {
		if s != "" {
			out = append(out, s.Reveal())
		}
	}
	if pw := databasePassword(c.State.DatabaseURL.Reveal()); pw != "" {
		out = append(out, pw)
	}
	return out
}

// databasePassword is the password in a database URL or key=value DSN, or "".
func databasePassword(dsn string) string {
	if dsn == "" {
		return ""
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return ""
	}
	return cfg.Password
}
