package hmrc

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
)

// BatchOrigin describes this server as the originating device of an HMRC
// call that no user initiated, for BATCH_PROCESS_DIRECT: an overnight
// obligations poll, a call made through the JSON API without the landlord's
// device data, a CLI command. userIDs names the landlord the work is for in
// this software, e.g. {"mtdconnect": "42"}; the OS account is added as os.
//
// The host is read afresh (HostBatchDevice) on every call, because the spec
// wants local IPs collected immediately before each request: call
// BatchOrigin for each HMRC call, not once per job. The device ID is
// Config.DeviceID and the vendor Config.Vendor.
//
// The headers are built here once, so a host that cannot be described fails
// now, with an error naming the header, rather than at the call. A host
// whose only interface is loopback has no MAC address and no local IP
// beyond loopback, so it fails too: HMRC allows missing data only after its
// missing-data process, which this code cannot assume was followed.
func (c *Client) BatchOrigin(userIDs map[string]string) (*Request, error) {
	id := c.cfg.DeviceID
	switch {
	case id == "":
		return nil, errors.New("hmrc: batch origin: Config.DeviceID is empty; set it to this server's persistent UUID")
	case !fphUUID.MatchString(id):
		return nil, fmt.Errorf("hmrc: batch origin: Config.DeviceID %q is not a UUID", id)
	case len(userIDs) == 0:
		return nil, errors.New("hmrc: batch origin: the user the work is for is required (e.g. mtdconnect=<account id>)")
	}
	dev, hostErr := HostBatchDevice()
	if dev != nil {
		dev.DeviceManufacturer = cmp.Or(dev.DeviceManufacturer, c.cfg.DeviceManufacturer)
		dev.DeviceModel = cmp.Or(dev.DeviceModel, c.cfg.DeviceModel)
	}
	vendor := c.cfg.Vendor
	vendor.LicenseIDs = maps.Clone(vendor.LicenseIDs) // the caller may change the Request
	r := &Request{
		Method:      ConnectionBatchProcessDirect,
		Device:      Device{DeviceID: id},
		UserIDs:     maps.Clone(userIDs),
		Vendor:      vendor,
		BatchDevice: dev,
	}
	if len(vendor.LicenseIDs) == 0 {
		// No licence configured for this server: the header is sent empty,
		// as the web origin does, per the spec's missing-data process.
		r.MissingData = []string{fphVendorLicenseIDs}
	}
	if _, err := r.Headers(); err != nil {
		if hostErr != nil {
			err = errors.Join(err, hostErr)
		}
		return nil, fmt.Errorf("hmrc: batch origin: %w", err)
	}
	return r, nil
}
