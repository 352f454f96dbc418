package signing

import "golang.org/x/mod/sumdb/note"

// SignNoteForTest signs arbitrary note text with the operator's Ed25519
// key and ML-DSA-65 cosignature under name, so tests can present
// correctly signed notes whose text is not what the signer would write.
func (s *Sealer) SignNoteForTest(name, text string) ([]byte, error) {
	ed, ml, err := s.noteSigners(name)
	if err != nil {
		return nil, err
	}
	return note.Sign(&note.Note{Text: text}, ed, ml)
}
