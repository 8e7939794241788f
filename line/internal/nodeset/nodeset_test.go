package nodeset_test

import (
	"errors"
	"testing"

	"github.com/serialine/serialine/configs/reference"
	"github.com/serialine/serialine/line/internal/nodeset"
)

// TestLoadPackML reads the OPC 30050 node set and checks facts stated in
// the specification's text, so a parser mistake cannot pass silently.
func TestLoadPackML(t *testing.T) {
	s, err := nodeset.Load(reference.File(t, "opcua/Opc.Ua.PackML.NodeSet2.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.URIs) != 1 || s.URIs[0] != "http://opcfoundation.org/UA/PackML/" || s.ModelVersion != "1.01" {
		t.Fatalf("URIs %v model %s %s", s.URIs, s.ModelURI, s.ModelVersion)
	}
	status := s.Node("ns=1;i=4")
	if status == nil || status.Class != nodeset.ObjectType || status.Name != "PackMLStatusObjectType" || status.BrowseNS != 1 || status.SuperType() != "i=58" {
		t.Fatalf("PackMLStatusObjectType: %+v", status)
	}
	speed := s.Node("ns=1;i=232") // Status/CurMachSpeed
	if speed.DataType != "i=10" || speed.ValueRank != -1 || speed.ModellingRule() != nodeset.Mandatory || speed.TypeDefinition() != "i=2368" {
		t.Errorf("CurMachSpeed: %+v", speed)
	}
	count := s.Node("ns=1;i=120") // Admin/ProdProcessedCount
	if count.DataType != "ns=1;i=14" || count.ValueRank != 1 || count.ModellingRule() != nodeset.Optional {
		t.Errorf("ProdProcessedCount: %+v", count)
	}
	def := s.Node("ns=1;i=14").Definition
	if def == nil || len(def.Fields) != 5 || def.Fields[2].Name != "Unit" || def.Fields[2].DataType != "i=887" || def.Fields[4].DataType != "i=6" {
		t.Errorf("PackMLCountDataType definition: %+v", def)
	}
	enum := s.Node("ns=1;i=194").Value.([]nodeset.EnumValue)
	if len(enum) != 4 || enum[1].DisplayName != "Produce" || enum[3].Value != 3 {
		t.Errorf("ProductionMaintenanceModeEnum values: %+v", enum)
	}
	args, ok := s.Node("ns=1;i=118").Value.([]nodeset.Argument) // SetUnitMode InputArguments
	if !ok || len(args) != 1 || args[0].Name != "RequestedMode" || args[0].DataType != "i=6" {
		t.Errorf("SetUnitMode arguments: %#v", s.Node("ns=1;i=118").Value)
	}
	if v := s.Node("ns=1;i=221").Value; v != "TR88.00.02-2015" {
		t.Errorf("PackMLVersion value %v", v)
	}
	if v := s.Node("ns=1;i=136").Value; v != uint32(6) { // Execute's StateNumber
		t.Errorf("Execute StateNumber %v", v)
	}
	if !s.Hierarchical("ns=1;i=22") || s.Hierarchical(nodeset.HasTypeDefinition) {
		t.Error("HasAlarm must be hierarchical (subtype of HasComponent), HasTypeDefinition not")
	}
	if ns, n, ok := nodeset.ParseNodeID("ns=1;i=14"); !ok || ns != 1 || n != 14 {
		t.Errorf("ParseNodeID: %d %d %v", ns, n, ok)
	}
}

func TestParseErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"not xml":        "<UANodeSet",
		"duplicate node": `<UANodeSet><UAObject NodeId="i=1" BrowseName="a"/><UAObject NodeId="i=1" BrowseName="b"/></UANodeSet>`,
		"bad rank":       `<UANodeSet><UAVariable NodeId="i=1" BrowseName="a" ValueRank="x"/></UANodeSet>`,
	} {
		if _, err := nodeset.Parse([]byte(doc)); !errors.Is(err, nodeset.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}
