"""Speech: text-to-speech and recognition protocols, espeak-ng + AMR encoding, and the cloud backends."""
