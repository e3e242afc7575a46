# The demo's app stack: the code demo/seed.py builds the world from.
variable "ami" {
  type = string
}

variable "subnet_id" {
  type = string
}

variable "web_sg" {
  type = string
}

resource "aws_instance" "web" {
  count                  = 3
  ami                    = var.ami
  instance_type          = "t3.micro"
  subnet_id              = var.subnet_id
  vpc_security_group_ids = [var.web_sg]

  tags = {
    Name = "web-${count.index}"
    Team = "web"
  }
}

resource "aws_ebs_volume" "data" {
  availability_zone = "us-east-1a"
  size              = 20
  type              = "gp3"

  tags = {
    Name = "web-0-data"
  }
}

resource "aws_volume_attachment" "data" {
  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.data.id
  instance_id = aws_instance.web[0].id
}

resource "aws_s3_bucket" "logs" {
  bucket = "demo-logs"

  versioning {
    enabled = true
  }

  server_side_encryption_configuration {
    rule {
      apply_server_side_encryption_by_default {
        sse_algorithm = "AES256"
      }
    }
  }

  tags = {
    Name = "demo-logs"
    Team = "platform"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    id     = "expire-logs"
    status = "Enabled"

    filter {
      prefix = "logs/"
    }

    expiration {
      days = 90
    }
  }
}

module "storage" {
  source = "./modules/storage"
}
