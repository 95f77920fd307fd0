package machine

import (
	"math"
	"reflect"
	"testing"

	"buildledger/domain/domainerr"
	"buildledger/domain/domaintest"
	"buildledger/events"

	"github.com/stretchr/testify/require"
)

func cfg() events.MachineConfig {
	return events.MachineConfig{URI: "ssh://nix@builder1:2222", Systems: []string{"x86_64-linux", "i686-linux"},
		MaxJobs: 4, SpeedFactor: 1.5, SupportedFeatures: []string{"kvm", "big-parallel"}, Enabled: true}
}

func with(f func(*events.MachineConfig)) events.MachineConfig {
	c := cfg()
	f(&c)
	return c
}

func norm(c events.MachineConfig) events.MachineConfig {
	n, err := Normalize(c)
	if err != nil {
		panic(err)
	}
	return n
}

func TestDecide(t *testing.T) {
	m := Evolve(State{}, &events.MachineRegistered{Name: "builder1", MachineConfig: norm(cfg())})
	removed := Evolve(m, &events.MachineRemoved{Name: "builder1"})
	local := with(func(c *events.MachineConfig) { c.URI = "localhost" })

	domaintest.Decide(t, Decide, []domaintest.Case[State, Command]{
		{Name: "register", State: State{}, Cmd: Register{Name: "builder1", Config: cfg()},
			Want: []events.Payload{&events.MachineRegistered{Name: "builder1", MachineConfig: norm(cfg())}}},
		{Name: "register sorts", State: State{}, Cmd: Register{Name: "builder1", Config: cfg()},
			Want: []events.Payload{&events.MachineRegistered{Name: "builder1", MachineConfig: with(func(c *events.MachineConfig) {
				c.Systems = []string{"i686-linux", "x86_64-linux"}
				c.SupportedFeatures = []string{"big-parallel", "kvm"}
			})}}},
		{Name: "register localhost", State: State{}, Cmd: Register{Name: "local", Config: local},
			Want: []events.Payload{&events.MachineRegistered{Name: "local", MachineConfig: norm(local)}}},
		{Name: "register after remove", State: removed, Cmd: Register{Name: "builder1", Config: cfg()},
			Want: []events.Payload{&events.MachineRegistered{Name: "builder1", MachineConfig: norm(cfg())}}},
		{Name: "register existing", State: m, Cmd: Register{Name: "builder1", Config: cfg()}, Err: domainerr.ErrAlreadyExists},
		{Name: "bad name", State: State{}, Cmd: Register{Name: "a b", Config: cfg()}, Err: domainerr.ErrInvalid, Field: "name"},
		{Name: "http uri", State: State{}, Cmd: Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.URI = "http://b" })}, Err: domainerr.ErrInvalid, Field: "uri"},
		{Name: "ssh-ng uri", State: State{}, Cmd: Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.URI = "ssh-ng://b" })}, Err: domainerr.ErrInvalid, Field: "uri"},
		{Name: "bare host", State: State{}, Cmd: Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.URI = "builder1" })}, Err: domainerr.ErrInvalid, Field: "uri"},
		{Name: "uri no host", State: State{}, Cmd: Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.URI = "ssh://" })}, Err: domainerr.ErrInvalid, Field: "uri"},
		{Name: "uri path", State: State{}, Cmd: Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.URI = "ssh://b/x" })}, Err: domainerr.ErrInvalid, Field: "uri"},
		{Name: "uri password", State: State{}, Cmd: Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.URI = "ssh://u:pw@b" })}, Err: domainerr.ErrInvalid, Field: "uri"},
		{Name: "uri bad port", State: State{}, Cmd: Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.URI = "ssh://b:99999" })}, Err: domainerr.ErrInvalid, Field: "uri"},
		{Name: "zero jobs", State: State{}, Cmd: Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.MaxJobs = 0 })}, Err: domainerr.ErrInvalid, Field: "maxJobs"},
		{Name: "zero speed", State: State{}, Cmd: Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.SpeedFactor = 0 })}, Err: domainerr.ErrInvalid, Field: "speedFactor"},
		{Name: "NaN speed", State: State{}, Cmd: Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.SpeedFactor = math.NaN() })}, Err: domainerr.ErrInvalid, Field: "speedFactor"},
		{Name: "infinite speed", State: State{}, Cmd: Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.SpeedFactor = math.Inf(1) })}, Err: domainerr.ErrInvalid, Field: "speedFactor"},
		{Name: "no systems", State: State{}, Cmd: Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.Systems = nil })}, Err: domainerr.ErrInvalid, Field: "systems"},
		{Name: "bad system", State: State{}, Cmd: Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.Systems = []string{"linux"} })}, Err: domainerr.ErrInvalid, Field: "systems"},
		{Name: "bad feature", State: State{}, Cmd: Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.MandatoryFeatures = []string{"a,b"} })}, Err: domainerr.ErrInvalid, Field: "mandatoryFeatures"},
		{Name: "bad host key", State: State{}, Cmd: Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.PublicHostKey = "not base64!" })}, Err: domainerr.ErrInvalid, Field: "publicHostKey"},
		{Name: "update", State: m, Cmd: Update{Name: "builder1", Config: with(func(c *events.MachineConfig) { c.MaxJobs = 8 })},
			Want: []events.Payload{&events.MachineUpdated{Name: "builder1", MachineConfig: norm(with(func(c *events.MachineConfig) { c.MaxJobs = 8 }))}}},
		{Name: "update unchanged", State: m, Cmd: Update{Name: "builder1", Config: cfg()}},
		{Name: "update missing", State: removed, Cmd: Update{Name: "builder1", Config: cfg()}, Err: domainerr.ErrNotFound},
		{Name: "update invalid", State: m, Cmd: Update{Name: "builder1", Config: with(func(c *events.MachineConfig) { c.MaxJobs = -1 })}, Err: domainerr.ErrInvalid, Field: "maxJobs"},
		{Name: "remove", State: m, Cmd: Remove{Name: "builder1"}, Want: []events.Payload{&events.MachineRemoved{Name: "builder1"}}},
		{Name: "remove missing", State: State{}, Cmd: Remove{Name: "builder1"}, Err: domainerr.ErrNotFound},
	})
}

// TestEqualConfigCoversAllFields fails when MachineConfig grows a field
// that EqualConfig does not compare.
func TestEqualConfigCoversAllFields(t *testing.T) {
	a := norm(cfg())
	v := reflect.ValueOf(a)
	for i := range v.NumField() {
		b := norm(cfg())
		f := reflect.ValueOf(&b).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(f.String() + "x")
		case reflect.Int:
			f.SetInt(f.Int() + 1)
		case reflect.Float64:
			f.SetFloat(f.Float() + 1)
		case reflect.Bool:
			f.SetBool(!f.Bool())
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"zz"}))
		default:
			t.Fatalf("field %s of kind %s: extend this test and EqualConfig", v.Type().Field(i).Name, f.Kind())
		}
		require.False(t, EqualConfig(a, b), "field %s", v.Type().Field(i).Name)
	}
}
