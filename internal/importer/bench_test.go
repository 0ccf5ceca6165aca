package importer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// BenchmarkReader measures parsing alone (no database) on NationBuilder rows.
func BenchmarkReader(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("nationbuilder_id,first_name,last_name,email,email_opt_in,mobile_number,born_at,sex,tag_list,support_level,primary_address1,primary_city,primary_zip,primary_country_code,primary_lat,primary_lng\n")
	const rows = 20000
	for i := range rows {
		fmt.Fprintf(&buf, "%d,Anne,Dupont,person%d@example.org,true,+32 470 %06d,05/17/1980,F,\"pensions, climate\",2,Rue Haute %d,Bruxelles,1000,BE,50.84,4.35\n", i, i, i, i)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		rd, err := Open(bytes.NewReader(data), Options{})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, _, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != rows {
			b.Fatalf("read %d rows", n)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
