// libpcap (Debian's libpcap-dev), for Sentinel's live capture.
#include <pcap/pcap.h>
