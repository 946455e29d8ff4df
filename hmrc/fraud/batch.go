package fraud

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
)

// Batch is this server as the originating device of HMRC calls no user
// initiated (BATCH_PROCESS_DIRECT): an overnight obligations poll, a call
// made through the JSON API without the landlord's device data, a CLI
// command.
type Batch struct {
	// DeviceID is this server's own persistent UUID, its
	// Gov-Client-Device-ID. Generate it once and keep it; it must not
	// change between runs.
	DeviceID string
	// Vendor is this software; PublicIP is not read.
	Vendor Vendor
	// DeviceManufacturer and DeviceModel describe this server in
	// Gov-Client-User-Agent when the host cannot say (a VM without DMI
	// data); the host's own values win when it can. HMRC's spec wants both
	// in every batch call's Gov-Client-User-Agent, so Origin fails without
	// them on such a host.
	DeviceManufacturer, DeviceModel string
}

// HostUnknowns names what this host cannot tell of itself for
// Gov-Client-User-Agent and the configuration must give: "manufacturer",
// "model", both, or none. A server says so when it starts.
func HostUnknowns() []string {
	_, manufacturer, model := hostDetails()
	var out []string
	if manufacturer == "" {
		out = append(out, "manufacturer")
	}
	if model == "" {
		out = append(out, "model")
	}
	return out
}

// Origin describes this server as the origin of one call for userIDs, the
// landlord the work is for in this software, e.g. {"mtdconnect": "42"};
// the OS account is added as os.
//
// The host is read afresh (HostBatchDevice) on every call, because the spec
// wants local IPs collected immediately before each request: call Origin
// for each HMRC call, not once per job.
//
// The headers are built here once, so a host that cannot be described fails
// now, with an error naming the header, rather than at the call. A host
// whose only interface is loopback has no MAC address and no local IP
// beyond loopback, so it fails too: HMRC allows missing data only after its
// missing-data process, which this code cannot assume was followed.
func (b Batch) Origin(userIDs map[string]string) (*Origin, error) {
	switch {
	case b.DeviceID == "":
		return nil, errors.New("fraud: batch origin: the DeviceID is empty; set it to this server's persistent UUID")
	case !uuidPattern.MatchString(b.DeviceID):
		return nil, fmt.Errorf("fraud: batch origin: the DeviceID %q is not a UUID", b.DeviceID)
	case len(userIDs) == 0:
		return nil, errors.New("fraud: batch origin: the user the work is for is required (e.g. mtdconnect=<account id>)")
	}
	dev, hostErr := HostBatchDevice()
	if dev != nil {
		dev.DeviceManufacturer = cmp.Or(dev.DeviceManufacturer, b.DeviceManufacturer)
		dev.DeviceModel = cmp.Or(dev.DeviceModel, b.DeviceModel)
	}
	vendor := b.Vendor
	vendor.LicenseIDs = maps.Clone(vendor.LicenseIDs) // the caller may change the Origin
	o := &Origin{
		Method:      BatchProcessDirect,
		Device:      Device{DeviceID: b.DeviceID},
		UserIDs:     maps.Clone(userIDs),
		Vendor:      vendor,
		BatchDevice: dev,
	}
	if len(vendor.LicenseIDs) == 0 {
		// No licence configured for this server: the header is sent empty,
		// as the web origin does, per the spec's missing-data process.
		o.MissingData = []string{govVendorLicenseIDs}
	}
	if _, err := o.Headers(); err != nil {
		if hostErr != nil {
			err = errors.Join(err, hostErr)
		}
		return nil, fmt.Errorf("fraud: batch origin: %w", err)
	}
	return o, nil
}

// WithVendor is o with the parts of its vendor it leaves empty taken from
// v: a caller may know where the request came in (the public IP) while the
// product, version and licences are this software's.
func (o Origin) WithVendor(v Vendor) Origin {
	ov := &o.Vendor
	if ov.ProductName == "" {
		ov.ProductName, ov.Version = v.ProductName, v.Version
	}
	if ov.PublicIP == "" {
		ov.PublicIP = v.PublicIP
	}
	if ov.LicenseIDs == nil {
		ov.LicenseIDs = v.LicenseIDs
	}
	return o
}
