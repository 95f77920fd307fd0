package hydraconf

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Setting is a hydra.conf key buildledger acts on, as the value of one of
// its flags. A flag given on the command line wins over it.
type Setting struct {
	// Key is the hydra.conf key; Where its "file:line".
	Key, Where string
	// Flag is the flag's name, without dashes; Value its value in the
	// flag's syntax.
	Flag, Value string
	// Secret is set when Value must not be logged.
	Secret bool
}

// Secret is a credential kept from the file. It prints as "(secret)" so
// that logging a Kept by mistake shows none.
type Secret string

// String hides the secret.
func (Secret) String() string { return "(secret)" }

// Kept are the settings parsed and kept for the features that will use
// them (notifications, status reporting, LDAP login); nothing acts on them
// yet.
type Kept struct {
	// GitInput is the <git-input> section: git timeouts, per repository.
	GitInput *Block
	// GithubStatus are the <githubstatus> sections.
	GithubStatus []*Block
	// Authorization holds the tokens of <github_authorization>,
	// <gitea_authorization> and <gitlab_authorization>, by section and
	// repository owner.
	Authorization map[string]map[string]Secret
	// EmailNotification is email_notification; NotificationSender is
	// notification_sender (Hydra's sender address).
	EmailNotification  bool
	NotificationSender string
	// LDAP is the <ldap> section.
	LDAP *Block
	// BitBucket is the <bitbucket> section (username, password), used
	// when EnableBitBucketStatus (enable_bitbucket_status) is set.
	BitBucket             *Block
	EnableBitBucketStatus bool
	// LogPrefix is log_prefix, where Hydra's web redirects requests for
	// logs it does not have.
	LogPrefix string
	// RunCommand are the <runcommand> sections (job, command, events);
	// DynamicRunCommand is <dynamicruncommand> enable.
	RunCommand        []*Block
	DynamicRunCommand bool
}

// Ignored is a key of Hydra's that has no meaning here, with the reason.
type Ignored struct {
	Key, Where, Why string
}

// Config is what a hydra.conf means to buildledger.
type Config struct {
	Settings []Setting
	Kept     Kept
	Ignored  []Ignored
	// Unknown are the keys that are not Hydra's (as "key (file:line)"),
	// named in one warning.
	Unknown []string
	// Notes are other things worth a warning: parameters of store_uri
	// that are dropped.
	Notes []string
	// HasSecrets is set when the file holds credentials (tokens,
	// passwords, webhook secrets): it should then be readable by its
	// owner only.
	HasSecrets bool
}

// key says what one top-level key means.
type key struct {
	// flags are the flags the value sets (one command has one of them:
	// up's --max-concurrent-evals is the evaluator's --max-concurrent).
	flags []string
	conv  func(string) (string, error)
	// secret hides the value in logs.
	secret bool
	// why, for a key that has no meaning here.
	why string
}

var keys = map[string]key{
	"max_output_size":                   {flags: []string{"max-output-size"}, conv: count(0)},
	"max_log_size":                      {flags: []string{"max-log-size"}, conv: count(0)},
	"max_db_connections":                {flags: []string{"max-db-connections"}, conv: count(1)},
	"evaluator_workers":                 {flags: []string{"eval-workers"}, conv: count(1)},
	"evaluator_max_memory_size":         {flags: []string{"eval-max-memory"}, conv: count(1)},
	"max_concurrent_evals":              {flags: []string{"max-concurrent-evals", "max-concurrent"}, conv: count(1)},
	"allow_import_from_derivation":      {flags: []string{"allow-import-from-derivation"}, conv: trueOnly},
	"binary_cache_secret_key_file":      {flags: []string{"cache-secret-key-file"}, conv: same, secret: true},
	"base_uri":                          {flags: []string{"base-url"}, conv: same},
	"use-substitutes":                   {flags: []string{"use-substitutes"}, conv: boolean},
	"private":                           {flags: []string{"private"}, conv: boolean},
	"gc_roots_dir":                      {flags: []string{"gc-roots"}, conv: same},
	"queue_runner_metrics_address":      {flags: []string{"status-listen"}, conv: same},
	"queue_runner_endpoint":             {flags: []string{"queue-runner-endpoint"}, conv: same},
	"path_input_cache_validity_seconds": {flags: []string{"path-input-cache-validity"}, conv: seconds},
	"github_endpoint":                   {flags: []string{"github-endpoint"}, conv: same},

	"evaluator_initial_heap_size": {why: "the evaluator bounds memory with --eval-max-memory only"},
	"eval_substituter":            {why: "inputs are not substituted from another cache; --allowed-uri decides what evaluation may fetch"},
	"server_store_uri":            {why: "the web serves the cache of --cache at /nix-cache/"},
	"binary_cache_public_uri":     {why: "the web serves the cache of --cache at /nix-cache/"},
	"using_frontend_proxy":        {why: "give the proxy's address with --trusted-proxy"},
	"readonly_ips":                {why: "no read-only address list; use --private and roles"},
	"tracker":                     {why: "pages take no operator HTML (it would bypass the Content-Security-Policy)"},
	"hydra_logo":                  {why: "the web has no custom logo"},
	"enable_google_login":         {why: "no Google login"},
	"google_client_id":            {why: "no Google login"},
	"allowed_domains":             {why: "no Google login"},
	"enable_persona":              {why: "no Persona login"},
	"persona_allowed_domains":     {why: "no Persona login"},
	"github_client_id":            {why: "no GitHub login"},
	"github_client_secret":        {why: "no GitHub login", secret: true},
	"github_client_secret_file":   {why: "no GitHub login"},
	"webhooks":                    {why: "put each webhook secret in a file of mode 0600 and pass --github-secret-file / --gitea-secret-file", secret: true},
	"statsd":                      {why: "metrics are served at /metrics (Prometheus)"},
	"hydra_notify":                {why: "metrics are served at /metrics (Prometheus)"},
	"influxdb":                    {why: "no InfluxDB notification"},
	"slack":                       {why: "no Slack notification"},
	"upload_logs_to_binary_cache": {why: "logs are kept under HOME/logs and served by the web; an s3:// cache always gets log/<drv> too"},
	"compress_num_threads":        {why: "compression is chosen by --cache's ?compression="},
	"compression_type":            {why: "compression is chosen by --cache's ?compression="},
	"nar_buffer_size":             {why: "NARs are streamed"},
	"max_unsupported_time":        {why: "a step no machine supports stays queued until one is added"},
	"xxx-jobset-repeats":          {why: "no repeated builds"},
}

// special are the keys Interpret reads one by one: those kept for later,
// and store_uri.
var special = []string{"git-input", "githubstatus", "github_authorization", "gitea_authorization",
	"gitlab_authorization", "email_notification", "notification_sender", "ldap", "log_prefix", "store_uri",
	"bitbucket", "enable_bitbucket_status", "runcommand", "dynamicruncommand"}

// Interpret says what a parsed hydra.conf means to buildledger. It fails
// on a value of a key it acts on that does not make sense.
func Interpret(root *Block) (Config, error) {
	var c Config
	for _, e := range root.Entries {
		if slices.Contains(special, e.Key) {
			if err := c.keep(e); err != nil {
				return Config{}, err
			}
			continue
		}
		k, ok := keys[e.Key]
		switch {
		case !ok:
			c.Unknown = append(c.Unknown, e.Key+" ("+e.Where+")")
		case k.why != "":
			c.Ignored = append(c.Ignored, Ignored{Key: e.Key, Where: e.Where, Why: k.why})
			c.HasSecrets = c.HasSecrets || k.secret
		case e.Block != nil:
			return Config{}, fmt.Errorf("%s: %s is a setting, not a section", e.Where, e.Key)
		default:
			v, err := k.conv(e.Value)
			if err != nil {
				return Config{}, fmt.Errorf("%s: %s: %w", e.Where, e.Key, err)
			}
			for _, f := range k.flags {
				c.Settings = append(c.Settings, Setting{Key: e.Key, Where: e.Where, Flag: f, Value: v, Secret: k.secret})
			}
		}
	}
	return c, nil
}

// keep records a key kept for later, or store_uri.
func (c *Config) keep(e Entry) error {
	section := func() (*Block, error) {
		if e.Block == nil {
			return nil, fmt.Errorf("%s: %s is a section: <%s> … </%s>", e.Where, e.Key, e.Key, e.Key)
		}
		return e.Block, nil
	}
	switch e.Key {
	case "store_uri":
		return c.storeURI(e)
	case "git-input":
		b, err := section()
		c.Kept.GitInput = b
		return err
	case "githubstatus":
		b, err := section()
		if err != nil {
			return err
		}
		c.Kept.GithubStatus = append(c.Kept.GithubStatus, b)
		c.HasSecrets = c.HasSecrets || len(b.Get("authorization")) > 0
	case "github_authorization", "gitea_authorization", "gitlab_authorization":
		b, err := section()
		if err != nil {
			return err
		}
		if c.Kept.Authorization == nil {
			c.Kept.Authorization = map[string]map[string]Secret{}
		}
		tokens := c.Kept.Authorization[e.Key]
		if tokens == nil {
			tokens = map[string]Secret{}
			c.Kept.Authorization[e.Key] = tokens
		}
		for _, t := range b.Entries {
			tokens[t.Key] = Secret(t.Value)
		}
		c.HasSecrets = c.HasSecrets || len(b.Entries) > 0
	case "ldap":
		b, err := section()
		if err != nil {
			return err
		}
		c.Kept.LDAP = b
		c.HasSecrets = c.HasSecrets || holdsPassword(b)
	case "email_notification":
		v, err := boolean(e.Value)
		c.Kept.EmailNotification = v == "true"
		if err != nil {
			return fmt.Errorf("%s: %s: %w", e.Where, e.Key, err)
		}
	case "notification_sender":
		c.Kept.NotificationSender = e.Value
	case "bitbucket":
		b, err := section()
		if err != nil {
			return err
		}
		c.Kept.BitBucket = b
		c.HasSecrets = c.HasSecrets || holdsPassword(b)
	case "enable_bitbucket_status":
		v, err := boolean(e.Value)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", e.Where, e.Key, err)
		}
		c.Kept.EnableBitBucketStatus = v == "true"
	case "log_prefix":
		c.Kept.LogPrefix = e.Value
	case "runcommand":
		b, err := section()
		if err != nil {
			return err
		}
		c.Kept.RunCommand = append(c.Kept.RunCommand, b)
	case "dynamicruncommand":
		b, err := section()
		if err != nil {
			return err
		}
		on := b.Get("enable")
		if len(on) == 0 {
			return nil
		}
		v, err := boolean(on[len(on)-1])
		if err != nil {
			return fmt.Errorf("%s: %s enable: %w", e.Where, e.Key, err)
		}
		c.Kept.DynamicRunCommand = v == "true"
	}
	return nil
}

// holdsPassword reports a key naming a password anywhere in b (LDAP's
// bindpw, password).
func holdsPassword(b *Block) bool {
	for _, e := range b.Entries {
		k := strings.ToLower(e.Key)
		if e.Block == nil && (strings.Contains(k, "password") || strings.Contains(k, "bindpw") || strings.Contains(k, "secret")) && e.Value != "" {
			return true
		}
		if e.Block != nil && holdsPassword(e.Block) {
			return true
		}
	}
	return false
}

// storeURI maps store_uri to --cache, and its secret-key parameter to
// --cache-secret-key-file. Parameters of Nix's binary cache stores that
// --cache does not take are dropped, each named in a note; a scheme
// --cache does not support is passed on for --cache to refuse.
func (c *Config) storeURI(e Entry) error {
	if e.Block != nil {
		return fmt.Errorf("%s: store_uri is a setting, not a section", e.Where)
	}
	u, err := url.Parse(e.Value)
	if err != nil {
		return fmt.Errorf("%s: store_uri: %w", e.Where, err)
	}
	keep := map[string][]string{"file": {"compression"}, "ssh": {"ssh-key", "base64-ssh-public-host-key", "remote-store"},
		"s3": {"region", "endpoint", "scheme", "profile", "compression", "parallel-compression", "write-nar-listing",
			"ls-compression", "log-compression", "multipart-chunk-size"}}[u.Scheme]
	var params []string
	if keep != nil {
		for _, kv := range strings.Split(u.RawQuery, "&") {
			if kv == "" {
				continue
			}
			name, value, _ := strings.Cut(kv, "=")
			switch {
			case name == "secret-key":
				v, err := url.PathUnescape(value)
				if err != nil {
					return fmt.Errorf("%s: store_uri: secret-key: %w", e.Where, err)
				}
				c.Settings = append(c.Settings, Setting{Key: "store_uri", Where: e.Where, Flag: "cache-secret-key-file", Value: v, Secret: true})
			case slices.Contains(keep, name):
				params = append(params, kv)
			default:
				c.Notes = append(c.Notes, fmt.Sprintf("%s: store_uri parameter %q is not supported and is dropped", e.Where, name))
			}
		}
		u.RawQuery = strings.Join(params, "&")
	}
	c.Settings = append(c.Settings, Setting{Key: "store_uri", Where: e.Where, Flag: "cache", Value: u.String(), Secret: true})
	return nil
}

func same(v string) (string, error) { return v, nil }

// count accepts a whole number of at least lo.
func count(lo int64) func(string) (string, error) {
	return func(v string) (string, error) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo {
			return "", fmt.Errorf("%q is not a whole number of at least %d", v, lo)
		}
		return strconv.FormatInt(n, 10), nil
	}
}

// seconds turns a number of seconds into a Go duration.
func seconds(v string) (string, error) {
	n, err := count(0)(v)
	if err != nil {
		return "", err
	}
	return n + "s", nil
}

// boolean reads Hydra's 0/1 and true/false.
func boolean(v string) (string, error) {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return "true", nil
	case "0", "false", "no", "off", "":
		return "false", nil
	}
	return "", fmt.Errorf("%q is neither 0/1 nor true/false", v)
}

// trueOnly is how Hydra reads allow_import_from_derivation: only "true"
// allows it.
func trueOnly(v string) (string, error) {
	return strconv.FormatBool(v == "true"), nil
}
