package bench

import (
	"fmt"
	"reflect"
	"slices"
)

// medianReport combines the reports of several runs of the same cases:
// every number is the median over the runs that have it (strings and the
// rest come from the first), and each figure gets the range of its value.
func medianReport(runs []*Report) *Report {
	if len(runs) == 0 {
		return nil
	}
	out := &Report{}
	medianInto(reflect.ValueOf(out).Elem(), runs)
	out.Runs = runs
	out.finish()
	for i := range out.Figures {
		f := &out.Figures[i]
		var vals []float64
		for _, r := range runs {
			for _, g := range r.Figures {
				if g.Case == f.Case && g.Name == f.Name {
					vals = append(vals, g.Value)
				}
			}
		}
		if len(vals) > 1 {
			lo, hi := slices.Min(vals), slices.Max(vals)
			f.Min, f.Max, f.N = &lo, &hi, len(vals)
		}
		// A figure is judged on its median, but a run that missed is
		// worth a look: the result says how many did.
		misses := 0
		for _, r := range runs {
			for _, g := range r.Figures {
				if g.Case == f.Case && g.Name == f.Name && g.Result == Miss {
					misses++
				}
			}
		}
		f.Misses = misses
	}
	return out
}

// medianInto sets dst (a struct) from the same struct in every run.
func medianInto(dst reflect.Value, runs []*Report) {
	srcs := make([]reflect.Value, len(runs))
	for i, r := range runs {
		srcs[i] = reflect.ValueOf(r).Elem()
	}
	medianValue(dst, srcs)
}

func medianValue(dst reflect.Value, srcs []reflect.Value) {
	var present []reflect.Value
	for _, s := range srcs {
		if s.IsValid() {
			present = append(present, s)
		}
	}
	if len(present) == 0 {
		return
	}
	switch dst.Kind() {
	case reflect.Struct:
		for i := range dst.NumField() {
			if !dst.Type().Field(i).IsExported() {
				continue
			}
			fs := make([]reflect.Value, len(present))
			for j, s := range present {
				fs[j] = s.Field(i)
			}
			medianValue(dst.Field(i), fs)
		}
	case reflect.Pointer:
		var elems []reflect.Value
		for _, s := range present {
			if !s.IsNil() {
				elems = append(elems, s.Elem())
			}
		}
		if len(elems) == 0 || dst.Type().Elem().Kind() != reflect.Struct || dst.Type() == reflect.TypeFor[*Hist]() {
			dst.Set(present[0])
			return
		}
		dst.Set(reflect.New(dst.Type().Elem()))
		medianValue(dst.Elem(), elems)
	case reflect.Slice:
		if dst.Type() == reflect.TypeFor[[]*FanoutResult]() {
			n := present[0].Len()
			dst.Set(reflect.MakeSlice(dst.Type(), n, n))
			for i := range n {
				var es []reflect.Value
				for _, s := range present {
					if i < s.Len() {
						es = append(es, s.Index(i))
					}
				}
				medianValue(dst.Index(i), es)
			}
			return
		}
		dst.Set(present[0])
	case reflect.Float64, reflect.Float32:
		vs := make([]float64, len(present))
		for i, s := range present {
			vs[i] = s.Float()
		}
		dst.SetFloat(median(vs))
	case reflect.Int, reflect.Int64, reflect.Int32:
		vs := make([]float64, len(present))
		for i, s := range present {
			vs[i] = float64(s.Int())
		}
		dst.SetInt(int64(median(vs)))
	case reflect.Uint64, reflect.Uint, reflect.Uint32:
		vs := make([]float64, len(present))
		for i, s := range present {
			vs[i] = float64(s.Uint())
		}
		dst.SetUint(uint64(median(vs)))
	default:
		dst.Set(present[0])
	}
}

// median of vs; the mean of the middle two for an even count.
func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func rangeShown(f Figure) string {
	if f.Min == nil || f.Max == nil {
		return "-"
	}
	return fmt.Sprintf("%s – %s", short(*f.Min), short(*f.Max))
}

func short(v float64) string {
	switch {
	case v >= 10000:
		return thousands(v)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
