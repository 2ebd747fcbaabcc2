package policy

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Diff lists what changed from old to new, one "path: old -> new" line per
// value ("engage.window: 90d -> 30d"), in field order with map keys sorted,
// so a worker can log exactly what a policy reload changed. It walks the
// struct by its yaml tags, so a new field is covered without touching Diff.
func Diff(old, new Policy) []string {
	var out []string
	diffValue("", reflect.ValueOf(old), reflect.ValueOf(new), &out)
	return out
}

func diffValue(path string, a, b reflect.Value, out *[]string) {
	switch a.Kind() {
	case reflect.Struct:
		t := a.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			diffValue(join(path, name), a.Field(i), b.Field(i), out)
		}
	case reflect.Map:
		keys := map[string]reflect.Value{}
		for _, m := range []reflect.Value{a, b} {
			for _, k := range m.MapKeys() {
				keys[fmt.Sprint(k.Interface())] = k
			}
		}
		names := make([]string, 0, len(keys))
		for n := range keys {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			k := keys[n]
			av, bv := a.MapIndex(k), b.MapIndex(k)
			switch {
			case !av.IsValid():
				*out = append(*out, fmt.Sprintf("%s: (none) -> %s", join(path, n), format(bv)))
			case !bv.IsValid():
				*out = append(*out, fmt.Sprintf("%s: %s -> (none)", join(path, n), format(av)))
			default:
				diffValue(join(path, n), av, bv, out)
			}
		}
	default:
		if sa, sb := format(a), format(b); sa != sb {
			*out = append(*out, fmt.Sprintf("%s: %s -> %s", path, sa, sb))
		}
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// format writes a leaf the way the policy file spells it.
func format(v reflect.Value) string {
	if s, ok := v.Interface().(fmt.Stringer); ok {
		return s.String()
	}
	switch v.Kind() {
	case reflect.String:
		return strconv.Quote(v.String())
	case reflect.Float32, reflect.Float64:
		// Plain digits as in the file (1000000, 0.6); exponents only for
		// numbers no one types out.
		if x := v.Float(); math.Abs(x) < 1e15 {
			return strconv.FormatFloat(x, 'f', -1, 64)
		}
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Slice, reflect.Array:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = format(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v.Interface())
}
