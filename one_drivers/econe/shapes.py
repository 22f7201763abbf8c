"""The results econe's handlers return, as typed dicts, so `mypy --strict` catches a wrong key or type.

Each class is named after the botocore output shape it fills (a test checks every key against the model).
Where types-boto3-ec2's shapes fit econe's values they are used as they are (`IpPermissionOutputTypeDef`,
`GroupIdentifierTypeDef`); econe's own classes stand where the stubs are narrower than what OpenNebula
gives (enum literals for names an administrator configures, such as instance types) or where the stubs'
results require `ResponseMetadata`, which botocore adds on the client side. Classes are `total=False`
unless every member is always there: the renderer skips absent members, as EC2 leaves them out.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from types_boto3_ec2.type_defs import GroupIdentifierTypeDef, IpPermissionOutputTypeDef


class Tag(TypedDict):
    """Both members always (the stubs' `TagTypeDef` has both optional): econe stores no half tags."""

    Key: str
    Value: str


class NoOutput(TypedDict, total=False):
    """Actions modelled without output: rendered as `<return>` (true unless a handler says otherwise)."""

    Return: bool


# --- volumes --------------------------------------------------------------------------------------


class VolumeAttachment(TypedDict, total=False):
    AttachTime: datetime
    Device: str
    InstanceId: str
    State: str
    VolumeId: str
    DeleteOnTermination: bool


class Volume(TypedDict, total=False):
    VolumeId: str
    Size: int
    SnapshotId: str
    AvailabilityZone: str
    State: str
    CreateTime: datetime
    Attachments: list[VolumeAttachment]
    Encrypted: bool
    VolumeType: str
    MultiAttachEnabled: bool
    Tags: list[Tag]


class DescribeVolumesResult(TypedDict, total=False):
    Volumes: list[Volume]
    NextToken: str


class VolumeStatusDetails(TypedDict, total=False):
    Name: str
    Status: str


class VolumeStatusInfo(TypedDict, total=False):
    Status: str
    Details: list[VolumeStatusDetails]


class VolumeStatusItem(TypedDict, total=False):
    VolumeId: str
    AvailabilityZone: str
    VolumeStatus: VolumeStatusInfo
    Actions: list[dict[str, str]]  # always empty: OpenNebula schedules no volume actions
    Events: list[dict[str, str]]  # always empty, likewise


class DescribeVolumeStatusResult(TypedDict, total=False):
    VolumeStatuses: list[VolumeStatusItem]
    NextToken: str


class VolumeModification(TypedDict, total=False):
    VolumeId: str
    ModificationState: str
    TargetSize: int
    TargetVolumeType: str
    OriginalSize: int
    OriginalVolumeType: str
    Progress: int
    StartTime: datetime
    EndTime: datetime


class ModifyVolumeResult(TypedDict, total=False):
    VolumeModification: VolumeModification


# --- snapshots ------------------------------------------------------------------------------------


class Snapshot(TypedDict, total=False):
    SnapshotId: str
    VolumeId: str
    State: str
    StartTime: datetime
    Progress: str
    OwnerId: str
    Description: str
    VolumeSize: int
    Encrypted: bool
    Tags: list[Tag]


class DescribeSnapshotsResult(TypedDict, total=False):
    Snapshots: list[Snapshot]
    NextToken: str


# --- key pairs ------------------------------------------------------------------------------------


class ImportKeyPairResult(TypedDict, total=False):
    KeyName: str
    KeyFingerprint: str
    KeyPairId: str
    Tags: list[Tag]


class KeyPair(ImportKeyPairResult, total=False):
    KeyMaterial: str


class KeyPairInfo(TypedDict, total=False):
    KeyPairId: str
    KeyName: str
    KeyFingerprint: str
    KeyType: str
    Tags: list[Tag]
    CreateTime: datetime
    PublicKey: str


class DescribeKeyPairsResult(TypedDict, total=False):
    KeyPairs: list[KeyPairInfo]


class DeleteKeyPairResult(TypedDict, total=False):
    Return: bool
    KeyPairId: str


# --- security groups ------------------------------------------------------------------------------


class SecurityGroup(TypedDict, total=False):
    GroupId: str
    GroupName: str
    OwnerId: str
    Description: str
    VpcId: str
    IpPermissions: list[IpPermissionOutputTypeDef]
    IpPermissionsEgress: list[IpPermissionOutputTypeDef]
    Tags: list[Tag]


class DescribeSecurityGroupsResult(TypedDict, total=False):
    SecurityGroups: list[SecurityGroup]


class CreateSecurityGroupResult(TypedDict, total=False):
    GroupId: str
    Tags: list[Tag]


class DeleteSecurityGroupResult(TypedDict, total=False):
    Return: bool
    GroupId: str


# Results that are only `Return` are NoOutput under their model names.
AuthorizeSecurityGroupIngressResult = NoOutput
AuthorizeSecurityGroupEgressResult = NoOutput
RevokeSecurityGroupIngressResult = NoOutput
RevokeSecurityGroupEgressResult = NoOutput


# --- elastic IPs ----------------------------------------------------------------------------------


class AllocateAddressResult(TypedDict, total=False):
    PublicIp: str
    AllocationId: str
    Domain: str
    PublicIpv4Pool: str
    NetworkBorderGroup: str


class AssociateAddressResult(TypedDict, total=False):
    AssociationId: str


class Address(TypedDict, total=False):
    PublicIp: str
    AllocationId: str
    Domain: str
    PublicIpv4Pool: str
    NetworkBorderGroup: str
    Tags: list[Tag]
    InstanceId: str
    AssociationId: str
    PrivateIpAddress: str
    NetworkInterfaceOwnerId: str
    NetworkInterfaceId: str


class DescribeAddressesResult(TypedDict, total=False):
    Addresses: list[Address]


# --- instances ------------------------------------------------------------------------------------


class InstanceState(TypedDict):
    Code: int
    Name: str


class StateReason(TypedDict):
    Code: str
    Message: str


class Placement(TypedDict, total=False):
    AvailabilityZone: str


class Monitoring(TypedDict, total=False):
    State: str


class EbsInstanceBlockDevice(TypedDict, total=False):
    AttachTime: datetime
    DeleteOnTermination: bool
    Status: str
    VolumeId: str


class InstanceBlockDeviceMapping(TypedDict, total=False):
    DeviceName: str
    Ebs: EbsInstanceBlockDevice


class InstanceNetworkInterfaceAttachment(TypedDict, total=False):
    AttachmentId: str
    DeviceIndex: int
    Status: str
    DeleteOnTermination: bool


class NetworkInterfaceAttachment(InstanceNetworkInterfaceAttachment, total=False):
    InstanceId: str
    InstanceOwnerId: str


class InstanceNetworkInterfaceAssociation(TypedDict, total=False):
    PublicIp: str
    IpOwnerId: str


class InstancePrivateIpAddress(TypedDict, total=False):
    Primary: bool
    PrivateIpAddress: str


class _Interface(TypedDict, total=False):
    """What an instance's interface and DescribeNetworkInterfaces' one have in common."""

    NetworkInterfaceId: str
    VpcId: str
    OwnerId: str
    Status: str
    MacAddress: str
    SourceDestCheck: bool
    InterfaceType: str
    Groups: list[GroupIdentifierTypeDef]
    SubnetId: str
    PrivateIpAddress: str
    PrivateIpAddresses: list[InstancePrivateIpAddress]


class InstanceNetworkInterface(_Interface, total=False):
    Attachment: InstanceNetworkInterfaceAttachment
    Association: InstanceNetworkInterfaceAssociation


class Instance(TypedDict, total=False):
    InstanceId: str
    ImageId: str
    State: InstanceState
    PrivateDnsName: str
    PublicDnsName: str
    StateTransitionReason: str
    AmiLaunchIndex: int
    InstanceType: str  # the cloud's own type names (the stubs allow only AWS's)
    LaunchTime: datetime
    Placement: Placement
    Monitoring: Monitoring
    KeyName: str
    PrivateIpAddress: str
    PublicIpAddress: str
    ClientToken: str
    Tags: list[Tag]
    RootDeviceType: str
    RootDeviceName: str
    BlockDeviceMappings: list[InstanceBlockDeviceMapping]
    VpcId: str
    SubnetId: str
    SecurityGroups: list[GroupIdentifierTypeDef]
    NetworkInterfaces: list[InstanceNetworkInterface]
    StateReason: StateReason


class Reservation(TypedDict, total=False):
    ReservationId: str
    OwnerId: str
    Groups: list[GroupIdentifierTypeDef]
    Instances: list[Instance]


class DescribeInstancesResult(TypedDict, total=False):
    Reservations: list[Reservation]
    NextToken: str


class InstanceStateChange(TypedDict, total=False):
    InstanceId: str
    CurrentState: InstanceState
    PreviousState: InstanceState


class TerminateInstancesResult(TypedDict, total=False):
    TerminatingInstances: list[InstanceStateChange]


class StartInstancesResult(TypedDict, total=False):
    StartingInstances: list[InstanceStateChange]


class StopInstancesResult(TypedDict, total=False):
    StoppingInstances: list[InstanceStateChange]


# --- the VPC, its subnets and network interfaces --------------------------------------------------


class VpcCidrBlockState(TypedDict, total=False):
    State: str


class VpcCidrBlockAssociation(TypedDict, total=False):
    AssociationId: str
    CidrBlock: str
    CidrBlockState: VpcCidrBlockState


class Vpc(TypedDict, total=False):
    VpcId: str
    CidrBlock: str
    State: str
    IsDefault: bool
    DhcpOptionsId: str
    InstanceTenancy: str
    OwnerId: str
    CidrBlockAssociationSet: list[VpcCidrBlockAssociation]
    Tags: list[Tag]


class DescribeVpcsResult(TypedDict, total=False):
    Vpcs: list[Vpc]


class Subnet(TypedDict, total=False):
    SubnetId: str
    VpcId: str
    State: str
    AvailabilityZone: str
    AvailabilityZoneId: str
    AvailableIpAddressCount: int
    DefaultForAz: bool
    MapPublicIpOnLaunch: bool
    OwnerId: str
    AssignIpv6AddressOnCreation: bool
    Ipv6CidrBlockAssociationSet: list[dict[str, str]]  # always empty: no IPv6 subnets
    Tags: list[Tag]
    CidrBlock: str


class DescribeSubnetsResult(TypedDict, total=False):
    Subnets: list[Subnet]


NetworkInterfaceAssociation = InstanceNetworkInterfaceAssociation  # the same members here


class NetworkInterface(_Interface, total=False):
    Attachment: NetworkInterfaceAttachment
    AvailabilityZone: str
    Description: str
    RequesterManaged: bool
    Association: NetworkInterfaceAssociation


class DescribeNetworkInterfacesResult(TypedDict, total=False):
    NetworkInterfaces: list[NetworkInterface]


# --- images ---------------------------------------------------------------------------------------


class EbsBlockDevice(TypedDict, total=False):
    DeleteOnTermination: bool
    VolumeSize: int
    VolumeType: str
    Encrypted: bool


class BlockDeviceMapping(TypedDict, total=False):
    DeviceName: str
    Ebs: EbsBlockDevice


class Image(TypedDict, total=False):
    ImageId: str
    ImageLocation: str
    State: str
    OwnerId: str
    CreationDate: str  # a string in the model too
    Public: bool
    Architecture: str
    ImageType: str
    Name: str
    VirtualizationType: str
    RootDeviceType: str
    RootDeviceName: str
    BlockDeviceMappings: list[BlockDeviceMapping]
    Description: str
    Tags: list[Tag]


class DescribeImagesResult(TypedDict, total=False):
    Images: list[Image]


class RegisterImageResult(TypedDict, total=False):
    ImageId: str


DeregisterImageResult = NoOutput
UploadImageResult = RegisterImageResult  # econe's own action, outside the model (`render_extension`)
CreateImageResult = RegisterImageResult


class AttributeValue(TypedDict, total=False):
    Value: str | None  # None: the VM has no such setting, the member is left out


class LaunchPermission(TypedDict, total=False):
    Group: str


class ImageAttribute(TypedDict, total=False):
    ImageId: str
    Description: AttributeValue
    LaunchPermissions: list[LaunchPermission]
    BlockDeviceMappings: list[BlockDeviceMapping]
    ProductCodes: list[dict[str, str]]  # always empty: OpenNebula has no product codes
    KernelId: AttributeValue
    RamdiskId: AttributeValue


# --- instance attributes, status, console ---------------------------------------------------------


class AttributeBooleanValue(TypedDict, total=False):
    Value: bool


class EnclaveOptions(TypedDict, total=False):
    Enabled: bool


class InstanceAttribute(TypedDict, total=False):
    InstanceId: str
    BlockDeviceMappings: list[InstanceBlockDeviceMapping]
    RootDeviceName: AttributeValue
    InstanceType: AttributeValue
    UserData: AttributeValue
    KernelId: AttributeValue
    RamdiskId: AttributeValue
    DisableApiTermination: AttributeBooleanValue
    InstanceInitiatedShutdownBehavior: AttributeValue
    ProductCodes: list[dict[str, str]]  # always empty
    SourceDestCheck: AttributeBooleanValue
    Groups: list[GroupIdentifierTypeDef]
    EbsOptimized: AttributeBooleanValue
    EnaSupport: AttributeBooleanValue
    DisableApiStop: AttributeBooleanValue
    SriovNetSupport: AttributeValue
    EnclaveOptions: EnclaveOptions


class GetConsoleOutputResult(TypedDict, total=False):
    InstanceId: str
    Timestamp: datetime
    Output: str


class GetPasswordDataResult(TypedDict, total=False):
    InstanceId: str
    Timestamp: datetime
    PasswordData: str


class InstanceStatusDetails(TypedDict, total=False):
    Name: str
    Status: str


class InstanceStatusSummary(TypedDict, total=False):
    Status: str
    Details: list[InstanceStatusDetails]


class InstanceStatus(TypedDict, total=False):
    InstanceId: str
    AvailabilityZone: str
    InstanceState: InstanceState
    InstanceStatus: InstanceStatusSummary
    SystemStatus: InstanceStatusSummary
    Events: list[dict[str, str]]  # always empty: OpenNebula schedules no instance events


class DescribeInstanceStatusResult(TypedDict, total=False):
    InstanceStatuses: list[InstanceStatus]
    NextToken: str


# --- instance types, regions, tags ----------------------------------------------------------------


class ProcessorInfo(TypedDict, total=False):
    SupportedArchitectures: list[str]


class VCpuInfo(TypedDict, total=False):
    DefaultVCpus: int
    DefaultCores: int
    DefaultThreadsPerCore: int


class MemoryInfo(TypedDict, total=False):
    SizeInMiB: int


class InstanceTypeInfo(TypedDict, total=False):
    InstanceType: str
    CurrentGeneration: bool
    SupportedUsageClasses: list[str]
    SupportedRootDeviceTypes: list[str]
    SupportedVirtualizationTypes: list[str]
    BareMetal: bool
    ProcessorInfo: ProcessorInfo
    VCpuInfo: VCpuInfo
    MemoryInfo: MemoryInfo
    InstanceStorageSupported: bool
    HibernationSupported: bool


class DescribeInstanceTypesResult(TypedDict, total=False):
    InstanceTypes: list[InstanceTypeInfo]
    NextToken: str


class Region(TypedDict, total=False):
    RegionName: str
    Endpoint: str
    OptInStatus: str


class DescribeRegionsResult(TypedDict, total=False):
    Regions: list[Region]


class AvailabilityZone(TypedDict, total=False):
    ZoneName: str
    ZoneId: str
    State: str
    RegionName: str
    ZoneType: str
    OptInStatus: str
    GroupName: str
    NetworkBorderGroup: str
    Messages: list[dict[str, str]]  # always empty


class DescribeAvailabilityZonesResult(TypedDict, total=False):
    AvailabilityZones: list[AvailabilityZone]


class AccountAttributeValue(TypedDict, total=False):
    AttributeValue: str


class AccountAttribute(TypedDict, total=False):
    AttributeName: str
    AttributeValues: list[AccountAttributeValue]


class DescribeAccountAttributesResult(TypedDict, total=False):
    AccountAttributes: list[AccountAttribute]


class TagDescription(TypedDict):
    Key: str
    ResourceId: str
    ResourceType: str
    Value: str


class DescribeTagsResult(TypedDict, total=False):
    Tags: list[TagDescription]
    NextToken: str
