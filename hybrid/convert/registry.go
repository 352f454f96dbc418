package convert

import (
	"bytes"
	"fmt"
)

// registry is the profile's registrymodifications.xcu: LibreOffice's user
// settings (the officecfg schema of LibreOffice 7.x).
//
//   - Macros never run: MacroSecurityLevel 3 ("very high": only signed
//     macros from trusted locations, and there are none) and
//     DisableMacrosExecution, which also turns off event-bound scripts and
//     the Basic IDE.
//   - Links to other documents and to the web are blocked
//     (BlockUntrustedRefererLinks; the sandbox has no network either).
//   - Spreadsheets are never recalculated on load (OOXMLRecalcMode and
//     ODFRecalcMode 1): the printed values are the ones the sender saved,
//     and hostile formulas cost nothing.
const registry = `<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>3</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="DisableMacrosExecution" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="BlockUntrustedRefererLinks" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>1</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode" oor:op="fuse"><value>1</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Misc"><prop oor:name="FirstRun" oor:op="fuse"><value>false</value></prop></item>
</oor:items>
`

// requiredSettings are the settings a profile must keep (as LibreOffice
// writes them back).
var requiredSettings = []string{
	`<prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>3</value></prop>`,
	`<prop oor:name="DisableMacrosExecution" oor:op="fuse"><value>true</value></prop>`,
}

// checkRegistry fails when a prepared profile lost a security setting.
func checkRegistry(xcu []byte) error {
	for _, s := range requiredSettings {
		if !bytes.Contains(xcu, []byte(s)) {
			return fmt.Errorf("the prepared LibreOffice profile lost the setting %s", s)
		}
	}
	return nil
}
