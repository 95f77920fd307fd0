package machine

import (
	"math"
	"reflect"
	"testing"

	"buildledger/domain/domainerr"
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

	tests := []struct {
		name    string
		state   State
		cmd     Command
		want    []events.Payload
		wantErr error
		field   string
	}{
		{"register", State{}, Register{Name: "builder1", Config: cfg()},
			[]events.Payload{&events.MachineRegistered{Name: "builder1", MachineConfig: norm(cfg())}}, nil, ""},
		{"register sorts", State{}, Register{Name: "builder1", Config: cfg()},
			[]events.Payload{&events.MachineRegistered{Name: "builder1", MachineConfig: with(func(c *events.MachineConfig) {
				c.Systems = []string{"i686-linux", "x86_64-linux"}
				c.SupportedFeatures = []string{"big-parallel", "kvm"}
			})}}, nil, ""},
		{"register localhost", State{}, Register{Name: "local", Config: local},
			[]events.Payload{&events.MachineRegistered{Name: "local", MachineConfig: norm(local)}}, nil, ""},
		{"register after remove", removed, Register{Name: "builder1", Config: cfg()},
			[]events.Payload{&events.MachineRegistered{Name: "builder1", MachineConfig: norm(cfg())}}, nil, ""},
		{"register existing", m, Register{Name: "builder1", Config: cfg()}, nil, domainerr.ErrAlreadyExists, ""},
		{"bad name", State{}, Register{Name: "a b", Config: cfg()}, nil, domainerr.ErrInvalid, "name"},
		{"http uri", State{}, Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.URI = "http://b" })}, nil, domainerr.ErrInvalid, "uri"},
		{"ssh-ng uri", State{}, Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.URI = "ssh-ng://b" })}, nil, domainerr.ErrInvalid, "uri"},
		{"bare host", State{}, Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.URI = "builder1" })}, nil, domainerr.ErrInvalid, "uri"},
		{"uri no host", State{}, Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.URI = "ssh://" })}, nil, domainerr.ErrInvalid, "uri"},
		{"uri path", State{}, Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.URI = "ssh://b/x" })}, nil, domainerr.ErrInvalid, "uri"},
		{"uri password", State{}, Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.URI = "ssh://u:pw@b" })}, nil, domainerr.ErrInvalid, "uri"},
		{"uri bad port", State{}, Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.URI = "ssh://b:99999" })}, nil, domainerr.ErrInvalid, "uri"},
		{"zero jobs", State{}, Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.MaxJobs = 0 })}, nil, domainerr.ErrInvalid, "maxJobs"},
		{"zero speed", State{}, Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.SpeedFactor = 0 })}, nil, domainerr.ErrInvalid, "speedFactor"},
		{"NaN speed", State{}, Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.SpeedFactor = math.NaN() })}, nil, domainerr.ErrInvalid, "speedFactor"},
		{"infinite speed", State{}, Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.SpeedFactor = math.Inf(1) })}, nil, domainerr.ErrInvalid, "speedFactor"},
		{"no systems", State{}, Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.Systems = nil })}, nil, domainerr.ErrInvalid, "systems"},
		{"bad system", State{}, Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.Systems = []string{"linux"} })}, nil, domainerr.ErrInvalid, "systems"},
		{"bad feature", State{}, Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.MandatoryFeatures = []string{"a,b"} })}, nil, domainerr.ErrInvalid, "mandatoryFeatures"},
		{"bad host key", State{}, Register{Name: "b", Config: with(func(c *events.MachineConfig) { c.PublicHostKey = "not base64!" })}, nil, domainerr.ErrInvalid, "publicHostKey"},
		{"update", m, Update{Name: "builder1", Config: with(func(c *events.MachineConfig) { c.MaxJobs = 8 })},
			[]events.Payload{&events.MachineUpdated{Name: "builder1", MachineConfig: norm(with(func(c *events.MachineConfig) { c.MaxJobs = 8 }))}}, nil, ""},
		{"update unchanged", m, Update{Name: "builder1", Config: cfg()}, nil, nil, ""},
		{"update missing", removed, Update{Name: "builder1", Config: cfg()}, nil, domainerr.ErrNotFound, ""},
		{"update invalid", m, Update{Name: "builder1", Config: with(func(c *events.MachineConfig) { c.MaxJobs = -1 })}, nil, domainerr.ErrInvalid, "maxJobs"},
		{"remove", m, Remove{Name: "builder1"}, []events.Payload{&events.MachineRemoved{Name: "builder1"}}, nil, ""},
		{"remove missing", State{}, Remove{Name: "builder1"}, nil, domainerr.ErrNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decide(tt.state, tt.cmd)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				if tt.field != "" {
					var fe *domainerr.FieldError
					require.ErrorAs(t, err, &fe)
					require.Equal(t, tt.field, fe.Field)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
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
