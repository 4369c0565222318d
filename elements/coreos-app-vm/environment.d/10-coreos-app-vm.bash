# An app VM on OpenStack: Ignition reads the instance user_data (config drive, else the
# metadata service) unless the build says otherwise.
export DIB_IGNITION_PLATFORM=${DIB_IGNITION_PLATFORM:-openstack}
