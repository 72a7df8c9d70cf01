"""Reports to partners: NCMEC's CyberTipline, and a generic signed partner webhook."""
