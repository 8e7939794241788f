package packtags

import (
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uasc"
)

// translate serves TranslateBrowsePathsToNodeIds, which gopcua v0.8.0
// answers with BadServiceUnsupported although clients (SCADA tag
// browsers, node-opcua's structure decoding) use it to find nodes by
// browse path. Each path element is followed with the Browse of the
// namespace that holds the current node (namespace 0 included), with the
// element's reference type, subtypes and direction.
func (s *Server) translate(_ *uasc.SecureChannel, r ua.Request, _ uint32) (ua.Response, error) {
	req, ok := r.(*ua.TranslateBrowsePathsToNodeIDsRequest)
	if !ok {
		return nil, ua.StatusBadRequestTypeInvalid
	}
	if len(req.BrowsePaths) == 0 {
		return nil, ua.StatusBadNothingToDo
	}
	results := make([]*ua.BrowsePathResult, len(req.BrowsePaths))
	for i, bp := range req.BrowsePaths {
		results[i] = s.follow(bp)
	}
	return &ua.TranslateBrowsePathsToNodeIDsResponse{ResponseHeader: header(req.RequestHeader, ua.StatusOK),
		Results: results, DiagnosticInfos: []*ua.DiagnosticInfo{}}, nil
}

func (s *Server) follow(bp *ua.BrowsePath) *ua.BrowsePathResult {
	if bp == nil || bp.StartingNode == nil {
		return &ua.BrowsePathResult{StatusCode: ua.StatusBadNodeIDInvalid, Targets: []*ua.BrowsePathTarget{}}
	}
	if bp.RelativePath == nil || len(bp.RelativePath.Elements) == 0 {
		return &ua.BrowsePathResult{StatusCode: ua.StatusBadNothingToDo, Targets: []*ua.BrowsePathTarget{}}
	}
	cur := []*ua.NodeID{bp.StartingNode}
	for _, el := range bp.RelativePath.Elements {
		if el == nil || el.TargetName == nil || el.TargetName.Name == "" {
			return &ua.BrowsePathResult{StatusCode: ua.StatusBadBrowseNameInvalid, Targets: []*ua.BrowsePathTarget{}}
		}
		rt := el.ReferenceTypeID
		if rt == nil || (rt.Namespace() == 0 && rt.IntID() == 0) {
			rt = ua.NewNumericNodeID(0, id.HierarchicalReferences)
		}
		dir := ua.BrowseDirectionForward
		if el.IsInverse {
			dir = ua.BrowseDirectionInverse
		}
		var next []*ua.NodeID
		for _, n := range cur {
			ns, err := s.srv.Namespace(int(n.Namespace()))
			if err != nil {
				continue
			}
			res := ns.Browse(&ua.BrowseDescription{NodeID: n, BrowseDirection: dir, ReferenceTypeID: rt,
				IncludeSubtypes: el.IncludeSubtypes, ResultMask: uint32(ua.BrowseResultMaskAll)})
			if res == nil {
				continue
			}
			for _, ref := range res.References {
				if ref.BrowseName != nil && ref.BrowseName.Name == el.TargetName.Name &&
					ref.BrowseName.NamespaceIndex == el.TargetName.NamespaceIndex && ref.NodeID != nil {
					next = append(next, ref.NodeID.NodeID)
				}
			}
		}
		if len(next) == 0 {
			return &ua.BrowsePathResult{StatusCode: ua.StatusBadNoMatch, Targets: []*ua.BrowsePathTarget{}}
		}
		cur = next
	}
	out := &ua.BrowsePathResult{StatusCode: ua.StatusGood}
	for _, n := range cur {
		out.Targets = append(out.Targets, &ua.BrowsePathTarget{TargetID: ua.NewExpandedNodeID(n, "", 0), RemainingPathIndex: 0xFFFFFFFF})
	}
	return out
}

// getEndpoints answers GetEndpoints with the endpoints whose channel
// security gopcua v0.8.0's server can carry: message security None only.
// gopcua announces a Basic256Sha256 endpoint as soon as that policy is
// enabled — which it must be for the user name token policy (passwords
// encrypted with the server certificate) to be published — but its
// server-side secure channel does not complete a handshake, so a client
// choosing the "most secure" endpoint would never connect.
func (s *Server) getEndpoints(_ *uasc.SecureChannel, r ua.Request, _ uint32) (ua.Response, error) {
	req, ok := r.(*ua.GetEndpointsRequest)
	if !ok {
		return nil, ua.StatusBadRequestTypeInvalid
	}
	var eps []*ua.EndpointDescription
	for _, ep := range s.srv.Endpoints() {
		if ep.SecurityMode == ua.MessageSecurityModeNone {
			eps = append(eps, ep)
		}
	}
	return &ua.GetEndpointsResponse{ResponseHeader: header(req.RequestHeader, ua.StatusOK), Endpoints: eps}, nil
}
